package whatsapp

import (
	"encoding/json"
	"strconv"
)

// Wire types of the Cloud API (Graph API v23.0). Field names and nesting
// follow the examples in Meta's OpenAPI description; the tests compare the
// bodies built here with those examples (testdata/requests).

// SendRequest is the body of POST /{phone-number-id}/messages.
type SendRequest struct {
	MessagingProduct string        `json:"messaging_product"`
	RecipientType    string        `json:"recipient_type,omitempty"`
	To               string        `json:"to"`
	Type             string        `json:"type"`
	Context          *ReplyContext `json:"context,omitempty"`
	Text             *TextBody     `json:"text,omitempty"`
	Image            *Media        `json:"image,omitempty"`
	Document         *Media        `json:"document,omitempty"`
	Video            *Media        `json:"video,omitempty"`
	Audio            *Media        `json:"audio,omitempty"`
	Location         *Location     `json:"location,omitempty"`
	Template         *Template     `json:"template,omitempty"`
	Reaction         *Reaction     `json:"reaction,omitempty"`
	Interactive      *Interactive  `json:"interactive,omitempty"`
	// BizOpaqueCallbackData is echoed in status webhooks; pbxgate puts its
	// own message ID here so a status can be matched even when it arrives
	// before the send's response was stored.
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data,omitempty"`
}

// ReplyContext makes a message a reply to an earlier one.
type ReplyContext struct {
	MessageID string `json:"message_id"`
}

// TextBody is a text message.
type TextBody struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url"`
}

// Media is an image, document, video or audio object: either ID (uploaded
// media) or Link (public HTTPS URL).
type Media struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// Location is a location message or template header parameter.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// Template is a template message.
type Template struct {
	Name       string              `json:"name"`
	Language   TemplateLanguage    `json:"language"`
	Components []TemplateComponent `json:"components,omitempty"`
}

// TemplateLanguage selects the template's translation.
type TemplateLanguage struct {
	Code   string `json:"code"`
	Policy string `json:"policy,omitempty"`
}

// TemplateComponent fills the variables of one component: type "header",
// "body" or "button" (with SubType "quick_reply" or "url" and Index "0", "1" …).
type TemplateComponent struct {
	Type       string      `json:"type"`
	SubType    string      `json:"sub_type,omitempty"`
	Index      string      `json:"index,omitempty"`
	Parameters []Parameter `json:"parameters,omitempty"`
}

// Parameter is one template variable value. Type is text, currency,
// date_time, image, document, video, location or payload.
type Parameter struct {
	Type string `json:"type"`
	// ParameterName names the placeholder ({{first_name}}) a parameter
	// fills; required for templates with parameter_format NAMED, absent
	// for positional ones.
	ParameterName string    `json:"parameter_name,omitempty"`
	Text          string    `json:"text,omitempty"`
	Payload       string    `json:"payload,omitempty"`
	Currency      *Currency `json:"currency,omitempty"`
	DateTime      *DateTime `json:"date_time,omitempty"`
	Image         *Media    `json:"image,omitempty"`
	Document      *Media    `json:"document,omitempty"`
	Video         *Media    `json:"video,omitempty"`
	Location      *Location `json:"location,omitempty"`
	// CouponCode is the code of a copy-code button (type coupon_code).
	CouponCode string `json:"coupon_code,omitempty"`
}

// Currency is a currency template parameter.
type Currency struct {
	FallbackValue string `json:"fallback_value"`
	Code          string `json:"code"`
	Amount1000    int64  `json:"amount_1000"`
}

// DateTime is a date_time template parameter; Meta renders FallbackValue.
type DateTime struct {
	FallbackValue string `json:"fallback_value"`
	Calendar      string `json:"calendar,omitempty"`
	DayOfMonth    int    `json:"day_of_month,omitempty"`
	DayOfWeek     int    `json:"day_of_week,omitempty"`
	Hour          int    `json:"hour,omitempty"`
	Minute        int    `json:"minute,omitempty"`
	Month         int    `json:"month,omitempty"`
	Year          int    `json:"year,omitempty"`
}

// SendResponse is the success answer to a send.
type SendResponse struct {
	MessagingProduct string `json:"messaging_product"`
	Contacts         []struct {
		Input string `json:"input"`
		WaID  string `json:"wa_id"`
	} `json:"contacts"`
	Messages []struct {
		ID            string `json:"id"`
		MessageStatus string `json:"message_status,omitempty"`
	} `json:"messages"`
}

// errorEnvelope is the Graph API error answer.
type errorEnvelope struct {
	Error *APIError `json:"error"`
}

// MediaInfo is the answer to GET /{media-id}.
type MediaInfo struct {
	ID       string    `json:"id"`
	URL      string    `json:"url"`
	MimeType string    `json:"mime_type"`
	SHA256   string    `json:"sha256"`
	FileSize flexInt64 `json:"file_size"`
}

// flexInt64 accepts a number or a numeric string: Meta's examples send
// file_size as a string, the documentation as a number.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s == "" {
			*f = 0
			return nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		*f = flexInt64(n)
		return err
	}
	var n int64
	err := json.Unmarshal(b, &n)
	*f = flexInt64(n)
	return err
}

// TemplatePage is one page of GET /{waba-id}/message_templates.
type TemplatePage struct {
	Data   []RemoteTemplate `json:"data"`
	Paging struct {
		Cursors struct {
			Before string `json:"before"`
			After  string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next,omitempty"`
	} `json:"paging"`
}

// RemoteTemplate is a template as Meta lists it.
type RemoteTemplate struct {
	ID         string                    `json:"id"`
	Name       string                    `json:"name"`
	Language   string                    `json:"language"`
	Status     string                    `json:"status"`
	Category   string                    `json:"category"`
	Components []RemoteTemplateComponent `json:"components"`
	// ParameterFormat is NAMED or POSITIONAL (the default when absent).
	ParameterFormat string `json:"parameter_format,omitempty"`
}

// RemoteTemplateComponent is a HEADER, BODY, FOOTER or BUTTONS component.
type RemoteTemplateComponent struct {
	Type    string          `json:"type"`
	Format  string          `json:"format,omitempty"`
	Text    string          `json:"text,omitempty"`
	Buttons []RemoteButton  `json:"buttons,omitempty"`
	Example json.RawMessage `json:"example,omitempty"`
}

// RemoteButton is one button of a BUTTONS component.
type RemoteButton struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	// Example is the sample of a URL button's variable (or a copy code).
	Example []string `json:"example,omitempty"`
}

// Notification is a webhook POST body.
type Notification struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// MessagesValue is the value of a "messages" change: inbound messages
// and/or statuses of sent ones.
type MessagesValue struct {
	MessagingProduct string `json:"messaging_product"`
	Metadata         struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []WebhookContact `json:"contacts"`
	Messages []InboundMessage `json:"messages"`
	Statuses []WebhookStatus  `json:"statuses"`
}

// WebhookContact is the sender's profile. UserID (business-scoped user ID)
// may be the only identity of users who have a username and no number.
type WebhookContact struct {
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
	WaID   string `json:"wa_id"`
	UserID string `json:"user_id,omitempty"`
}

// InboundMessage is one message from a user.
type InboundMessage struct {
	From      string `json:"from"`
	FromUser  string `json:"from_user_id,omitempty"`
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Context   *struct {
		From string `json:"from"`
		ID   string `json:"id"`
	} `json:"context,omitempty"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text,omitempty"`
	Referral *struct {
		SourceURL  string `json:"source_url"`
		SourceType string `json:"source_type"`
		SourceID   string `json:"source_id"`
		Headline   string `json:"headline"`
		Body       string `json:"body"`
	} `json:"referral,omitempty"`
	Image    *InboundMedia `json:"image,omitempty"`
	Document *InboundMedia `json:"document,omitempty"`
	Audio    *InboundMedia `json:"audio,omitempty"`
	Video    *InboundMedia `json:"video,omitempty"`
	Sticker  *InboundMedia `json:"sticker,omitempty"`
	Location *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		Name      string  `json:"name,omitempty"`
		Address   string  `json:"address,omitempty"`
		URL       string  `json:"url,omitempty"`
	} `json:"location,omitempty"`
	Button *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button,omitempty"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply,omitempty"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description,omitempty"`
		} `json:"list_reply,omitempty"`
	} `json:"interactive,omitempty"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction,omitempty"`
	Contacts json.RawMessage `json:"contacts,omitempty"`
	Order    json.RawMessage `json:"order,omitempty"`
	System   *struct {
		Body     string `json:"body"`
		Type     string `json:"type"`
		WaID     string `json:"wa_id,omitempty"`
		Customer string `json:"customer,omitempty"`
	} `json:"system,omitempty"`
	Errors []StatusError `json:"errors,omitempty"`
}

// InboundMedia is a received image, document, audio, video or sticker.
type InboundMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// WebhookStatus is a status of a message pbxgate sent.
type WebhookStatus struct {
	ID                    string        `json:"id"`
	Status                string        `json:"status"`
	Timestamp             string        `json:"timestamp"`
	RecipientID           string        `json:"recipient_id"`
	RecipientUserID       string        `json:"recipient_user_id,omitempty"`
	BizOpaqueCallbackData string        `json:"biz_opaque_callback_data,omitempty"`
	Errors                []StatusError `json:"errors,omitempty"`
	// PhoneNumberID is the notification's metadata.phone_number_id: the
	// business number that sent the message (not part of the status).
	PhoneNumberID string `json:"-"`
	Pricing       *struct {
		Billable     bool   `json:"billable"`
		PricingModel string `json:"pricing_model"`
		Category     string `json:"category"`
	} `json:"pricing,omitempty"`
}

// StatusError explains a failed status.
type StatusError struct {
	Code      int    `json:"code"`
	Title     string `json:"title"`
	Message   string `json:"message,omitempty"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}
