package chatchannel

import "time"

// Parts are the shared pieces one chat channel holds; S is the shape of
// its subscriber records.
type Parts[S any] struct {
	Pace    *Pacer
	Health  *Health
	Outbox  *Outbox
	Subs    Subscribers[S]
	OptOuts OptOutSlot
}

// NewParts builds them for the channel that o describes (its Health is
// made here, with errors kept through redact): pacing at perSecond and,
// with perKey > 0, one message per perKey to each chat; subscribers under
// o.Prefix.
func NewParts[S any](o Outbox, perSecond int, perKey time.Duration, redact func(string) string) *Parts[S] {
	o.Health = NewHealth(redact)
	return &Parts[S]{Pace: NewPacer(perSecond, perKey), Health: o.Health, Outbox: &o,
		Subs: Subscribers[S]{Store: o.Store, Prefix: o.Prefix}}
}
