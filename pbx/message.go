package pbx

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/session"
)

const contentType = "text/plain;charset=UTF-8"

// DeliverChat sends c to extension ext as one or more MESSAGE requests
// (implements session.Deliverer). Parts go one after the other, each
// after the previous was accepted, so they arrive in order. It returns an
// error wrapping session.ErrUnreachable for 404, 408, 480, 503 and
// timeouts, and ErrRefused for other refusals.
func (g *Gateway) DeliverChat(ctx context.Context, ext string, c session.Chat) error {
	select {
	case <-g.ready:
	case <-ctx.Done():
		return fmt.Errorf("%w: SIP not started: %v", session.ErrUnreachable, ctx.Err())
	}
	from, display := threadUser(contactUser(c), c.Thread), c.Name
	if c.Label != "" {
		if display == "" {
			display = contactUser(c)
		}
		display += " · " + c.Label
	}
	if c.Receipt != nil && c.Receipt.IMDN {
		// The phone asked for a disposition notification: an IMDN from
		// the contact, matched to its message by imdn.Message-ID.
		err := g.sendIMDN(ctx, ext, c)
		g.m.out.WithLabelValues(map[bool]string{true: "imdn", false: outcome(err)}[err == nil]).Inc()
		return err
	}
	if c.Notice {
		// pbxgate's own notices come from the gateway, not the customer.
		from, display = g.noticeUser(), "pbxgate"
	}
	parts := splitBody(c.Text, g.bodyLimit(ext, display, from))
	// A retry after a failed part continues where it stopped, so the
	// extension does not see the first parts twice.
	key := partKey{session: c.SessionID, seq: c.Seq, ext: ext}
	start := 0
	if v, ok := g.partsDone.Load(key); ok && v.(partProgress).total == len(parts) {
		start = v.(partProgress).done
	}
	for i := start; i < len(parts); i++ {
		if err := g.sendMessage(ctx, ext, display, from, parts[i]); err != nil {
			if len(parts) > 1 {
				g.partsDone.Store(key, partProgress{done: i, total: len(parts)})
			}
			g.m.out.WithLabelValues(outcome(err)).Inc()
			return err
		}
	}
	g.partsDone.Delete(key)
	g.m.out.WithLabelValues("delivered").Inc()
	g.m.parts.Add(float64(len(parts)))
	return nil
}

// noticeUser is the user part of pbxgate's own identity in chats: its
// SIP user name, or "pbxgate".
func (g *Gateway) noticeUser() string {
	if g.cfg.Username != "" {
		return g.cfg.Username
	}
	return "pbxgate"
}

type partKey struct {
	session string
	seq     int
	ext     string
}

type partProgress struct{ done, total int }

func outcome(err error) string {
	if errors.Is(err, session.ErrUnreachable) {
		return "unreachable"
	}
	return "refused"
}

// udpLimit is RFC 3261's bound for a request over UDP when the path MTU
// is unknown (sipgo refuses larger ones).
const udpLimit = 1300

// bodyLimit is the most body bytes one MESSAGE may carry: the configured
// limit (the extension's own, sip.extensions[].max_body_bytes, else its
// queues' sip.sessions.queues[].max_body_bytes, else
// sip.max_body_bytes) and, over UDP, what fits in 1,300 bytes with the
// headers (plus room for the Via sipgo fills in).
func (g *Gateway) bodyLimit(ext, displayName, user string) int {
	limit := g.cfg.MaxBodyBytes
	if l, ok := g.extLimit[ext]; ok {
		limit = l
	}
	if g.network != "udp" {
		return limit
	}
	req := g.newMessage(ext, displayName, user, "")
	// The headers sipgo adds when sending (Via, Call-ID, CSeq, …).
	_ = sipgo.ClientRequestBuild(g.client, req)
	fit := udpLimit - len(req.String()) - 64
	if limit <= 0 || fit < limit {
		return fit
	}
	return limit
}

func (g *Gateway) newMessage(ext, displayName, user, body string) *sip.Request {
	req := sip.NewRequest(sip.MESSAGE, g.pbxURI(ext))
	req.SetTransport(g.transportParam())
	g.toPBX(req)
	from := &sip.FromHeader{DisplayName: displayName, Address: sip.Uri{Scheme: "sip", User: user, Host: g.domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: g.pbxHost}, Params: sip.NewParams()}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody([]byte(body))
	return req
}

// sendMessage sends one MESSAGE from user (a customer) to ext.
func (g *Gateway) sendMessage(ctx context.Context, ext, displayName, user, body string) error {
	return g.send(ctx, ext, g.newMessage(ext, displayName, user, body))
}

// send sends a MESSAGE to ext, answering a digest challenge.
func (g *Gateway) send(ctx context.Context, ext string, req *sip.Request) error {
	res, err := g.client.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) && g.cfg.Username != "" {
		res, err = g.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: g.cfg.Username, Password: g.cfg.Password.Reveal()})
	}
	if err != nil {
		return fmt.Errorf("%w: MESSAGE to %s: %v", session.ErrUnreachable, ext, err)
	}
	switch {
	case res.StatusCode == 200 || res.StatusCode == 202:
		return nil
	case res.StatusCode == 404 || res.StatusCode == 408 || res.StatusCode == 480 || res.StatusCode == 503 || res.StatusCode == 500:
		return fmt.Errorf("%w: MESSAGE to %s: %d %s", session.ErrUnreachable, ext, res.StatusCode, res.Reason)
	default:
		return fmt.Errorf("%w: MESSAGE to %s: %d %s", ErrRefused, ext, res.StatusCode, res.Reason)
	}
}

func (g *Gateway) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if !g.allowed(req.Source()) {
		g.refuse(req, tx, 403, "Forbidden", "address not in sip.allow_from")
		return
	}
	if id := req.CallID(); id != nil && g.probeID != "" && strings.HasPrefix(string(*id), g.probeID) {
		g.probeLooped.Store(true) // our keepalive, routed back by the registrar
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Accept", acceptTypes))
	_ = tx.Respond(res)
}

// allowMethods are the methods pbxgate answers (the Allow header of 405
// and OPTIONS answers).
const allowMethods = "MESSAGE, OPTIONS"

// onOther answers methods pbxgate does not support (INVITE, SUBSCRIBE,
// INFO, …): 405 with the Allow header RFC 3261 §8.2.1 requires
// (§21.4.6). An ACK is never answered (§17.2.1); a CANCEL that matches no
// transaction gets 481 (§9.2).
func (g *Gateway) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	if !g.allowed(req.Source()) {
		g.refuse(req, tx, 403, "Forbidden", "address not in sip.allow_from")
		return
	}
	if req.IsCancel() {
		g.refuse(req, tx, 481, "Call/Transaction Does Not Exist", "no such transaction")
		return
	}
	why := fmt.Sprintf("%s is not supported: pbxgate carries chats (SIP MESSAGE), not calls", req.Method)
	g.refuse(req, tx, 405, "Method Not Allowed", why, sip.NewHeader("Allow", allowMethods))
}

// onMessage takes a MESSAGE from an extension to a customer.
func (g *Gateway) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	arrived := time.Now()
	if !g.allowed(req.Source()) {
		g.log.Warn("SIP request from an address not in sip.allow_from refused", "source", req.Source())
		g.refuse(req, tx, 403, "Forbidden", "address not in sip.allow_from")
		return
	}
	ext := ""
	if f := req.From(); f != nil {
		ext = f.Address.User
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if isIMDN(ct, req.Body()) {
		// A phone's disposition notification about a chat pbxgate sent:
		// nothing for the customer (RFC 5438 §7.1).
		g.m.in.WithLabelValues("imdn").Inc()
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		return
	}
	text, berr := bodyText(ct, req.Body())
	if berr != nil && berr.code == 415 {
		g.refuse(req, tx, 415, "Unsupported Media Type", berr.why, sip.NewHeader("Accept", acceptTypes))
		return
	}
	// The number is in the request URI, or (a PBX that sends to our
	// registered contact) in To.
	user := req.Recipient.User
	contact, thread, ok := g.address(user)
	if t := req.To(); !ok && t != nil {
		if c, th, tok := g.address(t.Address.User); tok {
			contact, thread, ok = c, th, true
		}
	}
	// Notices about this message go to the thread it was written in.
	inThread := threadUser(contact, thread)
	if !ok {
		g.refuseAndTell(req, tx, ext, user, 404, "Not Found",
			fmt.Sprintf("%q is not a customer number; write to +<country><number>%s", user, g.nationalHint()))
		return
	}
	if berr != nil {
		g.refuseAndTell(req, tx, ext, inThread, 400, "Bad Request", berr.why)
		return
	}
	if strings.TrimSpace(text) == "" {
		// RFC 3428 §7: a MESSAGE the UAS will not process gets a final
		// error answer; nothing is stored or sent.
		g.refuseAndTell(req, tx, ext, inThread, 400, "Bad Request", "the message is empty; nothing was sent")
		return
	}
	box := g.sessions.Load()
	if box == nil {
		g.refuse(req, tx, 503, "Service Unavailable", "pbxgate is starting", retryAfterHeader())
		return
	}
	if why, hdrs, held := g.diskHeld(); held {
		g.refuse(req, tx, 503, "Service Unavailable", why, hdrs...)
		g.tell(req, ext, inThread, why)
		return
	}
	key := txKey(req)
	if key == "" {
		g.refuse(req, tx, 400, "Bad Request", "Call-ID, CSeq or From missing")
		return
	}
	r, first := g.txs.begin(key, arrived)
	if !first {
		// The same MESSAGE again on a new transaction: the first one's
		// answer, never a second message. The first is answered within
		// answerWithin; the cap only guards against a store that hangs.
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			g.log.Error("retransmitted MESSAGE: the first one was not answered", "ext", ext)
			return
		}
		g.m.in.WithLabelValues("retransmission").Inc()
		_ = tx.Respond(r.response(req))
		return
	}
	notify, wants := g.notifyFor(ext, ct, req.Body())
	var np *session.DeliveryNotify
	if wants {
		np = &notify
	}
	code, reason, why, hdrs := g.takeReply(box.s, arrived, ext, contact, thread, text, np)
	if why != "" {
		hdrs = append(hdrs, g.warning(why))
	}
	r.finish(code, reason, hdrs...)
	switch {
	case code == 202:
		g.m.in.WithLabelValues("accepted").Inc()
		_ = tx.Respond(r.response(req))
	case code == 503:
		g.m.in.WithLabelValues("service_unavailable").Inc()
		_ = tx.Respond(r.response(req))
	default:
		g.m.in.WithLabelValues(strings.ToLower(strings.ReplaceAll(reason, " ", "_"))).Inc()
		_ = tx.Respond(r.response(req))
		g.tell(req, ext, inThread, why)
	}
}

// takeReply hands an extension's message to the sessions and returns the
// answer: 202 once it is stored, 503 with Retry-After when it cannot be
// taken now (too many at once, or not stored by giveUpAfter), otherwise
// the refusal and why.
func (g *Gateway) takeReply(s Sessions, arrived time.Time, ext, contact, thread, text string, notify *session.DeliveryNotify) (int, string, string, []sip.Header) {
	select {
	case g.replies <- struct{}{}:
	default:
		g.m.busy.WithLabelValues("too_many").Inc()
		return 503, "Service Unavailable", "too many messages at once; retry", []sip.Header{retryAfterHeader()}
	}
	gate := &session.Gate{}
	ctx, cancel := context.WithDeadline(context.Background(), arrived.Add(answerWithin-50*time.Millisecond))
	res := make(chan error, 1)
	go func() {
		defer func() { <-g.replies }()
		defer cancel()
		gctx := session.WithGate(ctx, gate)
		if notify != nil {
			gctx = session.WithNotify(gctx, *notify)
		}
		if ts, ok := s.(ThreadSessions); ok {
			res <- ts.FromExtensionThread(gctx, ext, contact, thread, text)
			return
		}
		if thread != "" {
			res <- fmt.Errorf("%w: %q", session.ErrUnknownChannel, thread)
			return
		}
		res <- s.FromExtension(gctx, ext, contact, text)
	}()
	timer := time.NewTimer(time.Until(arrived.Add(giveUpAfter)))
	defer timer.Stop()
	var err error
	select {
	case err = <-res:
	case <-timer.C:
		if gate.Close() {
			err = session.ErrBusy
		} else {
			err = <-res // being stored: its result comes in milliseconds
		}
	}
	if err == nil {
		return 202, "Accepted", "", nil
	}
	code, reason := 500, "Server Internal Error"
	switch {
	case errors.Is(err, session.ErrBusy):
		g.m.busy.WithLabelValues("slow_store").Inc()
		g.log.Warn("message from extension not taken: pbxgate is busy; the PBX may retry", "ext", ext)
		return 503, "Service Unavailable", "busy; retry", []sip.Header{retryAfterHeader()}
	case errors.Is(err, session.ErrNoSession), errors.Is(err, session.ErrNotYours):
		code, reason = 403, "Forbidden"
	case errors.Is(err, session.ErrWindowClosed):
		code, reason = 488, "Not Acceptable Here"
	case errors.Is(err, session.ErrUnknownChannel):
		code, reason = 404, "Not Found"
	case errors.Is(err, session.ErrBadCommand), errors.Is(err, session.ErrUnknownTarget), errors.Is(err, session.ErrEmptyReply):
		code, reason = 400, "Bad Request"
	}
	g.log.Info("message from extension refused", "ext", ext, "code", code, "err", err)
	return code, reason, err.Error(), nil
}

func retryAfterHeader() sip.Header { return sip.NewHeader("Retry-After", strconv.Itoa(retryAfter)) }

func (g *Gateway) warning(why string) sip.Header {
	return sip.NewHeader("Warning", fmt.Sprintf("399 %s %q", g.domain, sanitize(why)))
}

// threadSep separates a contact's number from the thread (a channel
// other than the first) in the user part: +491701234567*wa-main. "*" is
// allowed unescaped in a SIP URI user part (RFC 3261 §25.1, mark).
const threadSep = "*"

// threadUser is the user part of a contact's thread.
func threadUser(contact, thread string) string {
	if thread == "" {
		return contact
	}
	var b strings.Builder
	b.WriteString(contact + threadSep)
	for _, c := range []byte(thread) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// address splits the user part an extension wrote to into the customer's
// number and the thread ("" : the plain thread).
func (g *Gateway) address(user string) (contact, thread string, ok bool) {
	u, err := url.PathUnescape(user)
	if err != nil {
		return "", "", false
	}
	if i := strings.LastIndex(u, threadSep); i >= 0 {
		u, thread = u[:i], u[i+1:]
		if thread == "" {
			return "", "", false
		}
	}
	contact, ok = g.customer(url.PathEscape(u))
	return contact, thread, ok
}

// customer turns the user part an extension wrote to into an E.164 number.
func (g *Gateway) customer(user string) (string, bool) {
	u, err := url.PathUnescape(user)
	if err != nil {
		return "", false
	}
	if g.cfg.CustomerPrefix != "" {
		rest, ok := strings.CutPrefix(u, g.cfg.CustomerPrefix)
		if !ok {
			return "", false
		}
		u = rest
	}
	// A Telegram subscriber: "tg" and its chat id (drivers/telegram.Address).
	if id, ok := strings.CutPrefix(u, "tg"); ok && allDigits(id) && len(id) <= 20 {
		return u, true
	}
	// A VK user: "vk" and the user id (drivers/vk.Address); a Viber
	// user: "vb" and the base64 user id (drivers/viber.Address).
	if id, ok := strings.CutPrefix(u, "vk"); ok && allDigits(id) && len(id) <= 12 {
		return u, true
	}
	if id, ok := strings.CutPrefix(u, "vb"); ok && viberUserID(id) {
		return u, true
	}
	// A Messenger or Instagram person: "fb"/"ig" and the page-scoped id
	// (drivers/metamsg.Channel.Address).
	for _, p := range []string{"fb", "ig"} {
		if id, ok := strings.CutPrefix(u, p); ok && id != "" && allDigits(id) && len(id) <= 24 {
			return u, true
		}
	}
	if rest, ok := strings.CutPrefix(u, "00"); ok {
		u = "+" + rest
	} else if g.opts.Region != "" && strings.HasPrefix(u, "0") && allDigits(u) {
		// A national number (0170…), read in region.default_country.
		n, err := recipients.Normalize(u, g.opts.Region)
		if err != nil {
			return "", false
		}
		u = n
	}
	if !strings.HasPrefix(u, "+") || !allDigits(u[1:]) || len(u) < 8 || len(u) > 16 {
		return "", false
	}
	return u, true
}

// nationalHint completes the 404 reason: national numbers work when a
// default country is set.
func (g *Gateway) nationalHint() string {
	if g.opts.Region == "" {
		return ""
	}
	return " or a national number of " + g.opts.Region
}

func (g *Gateway) refuse(req *sip.Request, tx sip.ServerTransaction, code int, reason, why string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	res.AppendHeader(g.warning(why))
	g.m.in.WithLabelValues(strings.ToLower(strings.ReplaceAll(reason, " ", "_"))).Inc()
	_ = tx.Respond(res)
}

// refuseAndTell answers with an error and, since many phones show no SIP
// errors in their chat view, also sends the reason back as a chat.
func (g *Gateway) refuseAndTell(req *sip.Request, tx sip.ServerTransaction, ext, from string, code int, reason, why string) {
	g.refuse(req, tx, code, reason, why)
	g.tell(req, ext, from, why)
}

// tell sends the reason a message was refused back to the extension as a
// chat. A phone that answers chats automatically must not start a loop
// of notices: none for echoed notices, at most one per extension, reason
// and noticeInterval.
func (g *Gateway) tell(req *sip.Request, ext, from, why string) {
	if ext == "" || from == "" || strings.HasPrefix(string(req.Body()), noticePrefix) || !g.noticeDue(ext+"\x00"+why) {
		return
	}
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.sendMessage(ctx, ext, "pbxgate", from, noticePrefix+why); err != nil {
			g.log.Debug("tell extension about refused message", "ext", ext, "err", err)
		}
	}()
}

const (
	noticePrefix   = "pbxgate: not sent: "
	noticeInterval = 5 * time.Second
)

func (g *Gateway) noticeDue(key string) bool {
	g.noticeMu.Lock()
	defer g.noticeMu.Unlock()
	now := time.Now()
	if last, ok := g.noticed[key]; ok && now.Sub(last) < noticeInterval {
		return false
	}
	if len(g.noticed) > 10000 { // bounded: forget old entries
		clear(g.noticed)
	}
	g.noticed[key] = now
	return true
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 {
			return '\''
		}
		return r
	}, s)
}

// viberUserID: 1 to 64 base64 characters (a Viber user id).
func viberUserID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=') {
			return false
		}
	}
	return true
}
