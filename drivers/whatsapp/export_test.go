package whatsapp

// Queued is how many requests wait for their slot in ch's pacer (tests).
func Queued(ch *Channel) int { return ch.wire.queued() }
