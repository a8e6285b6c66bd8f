// Package chatchannel is what the chat-messenger channels (telegram,
// viber, vk, metamsg) share: the ports they feed (inbox, status sink,
// message log, opt-outs), the pacer that keeps a platform's rate, the
// durable outbox that makes a send idempotent by message ID across
// restarts, the subscriber records, the channel's health counters and the
// small pieces of webhook and retry plumbing. What differs between the
// platforms (request shapes, authentication and signatures, limits, the
// shape of a stored record) stays in the drivers, which hand it in as
// values and functions.
//
// Keys and values are the drivers' own: a channel's records live under
// its prefix ("telegram/<name>/") as "out/<id>" and "sub/<id>", in the
// JSON the drivers always wrote.
package chatchannel
