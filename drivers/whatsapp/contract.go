package whatsapp

import "context"

// SendText sends free text to a contact (inside the service window): the
// automation's replies (gateway/inbound.TextSender).
func (ch *Channel) SendText(ctx context.Context, id, to, text string) error {
	_, err := ch.SendMessage(ctx, id, to, Text(text))
	return err
}
