package smspool

// outboxBatch bounds one read of the status-event outbox (and one delete
// transaction). Received messages are not kept here any more: they go to
// the gateway's inbox (see Inbox and migrateOutbox).
const outboxBatch = 128
