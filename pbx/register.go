package pbx

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Registration returns the current registration state.
func (g *Gateway) Registration() Registration {
	g.regMu.Lock()
	defer g.regMu.Unlock()
	return g.reg
}

func (g *Gateway) setReg(r Registration) {
	g.regMu.Lock()
	if r.State != g.reg.State || r.Since.IsZero() {
		r.Since = time.Now()
	} else {
		r.Since = g.reg.Since
	}
	g.reg = r
	g.regMu.Unlock()
	v := 0.0
	if r.State == "registered" {
		v = 1
	}
	g.m.registered.Set(v)
}

// registerLoop keeps the registration alive: it re-registers at 3/4 of
// the granted expiry and, while the PBX is down or refuses, retries with
// a doubling backoff. Between refreshes it sends OPTIONS keepalives
// (sip.keepalive): when the registrar stops answering, or answers that it
// no longer knows pbxgate (a restart lost its location table), it
// registers again at once and retries at least every keepalive interval
// until the registrar answers. On ctx end it removes the registration.
func (g *Gateway) registerLoop(ctx context.Context) {
	r := &registrar{g: g, callID: sip.CallIDHeader(fmt.Sprintf("pbxgate-%d", time.Now().UnixNano()))}
	backoff := g.opts.RetryMin
	unanswered := 0 // consecutive REGISTERs without an answer (SRV failover)
	for {
		g.setReg(Registration{State: "registering", Registrar: g.cfg.Registrar, Code: g.Registration().Code, LastError: g.Registration().LastError})
		var granted time.Duration
		var code int
		err := g.resolveRegistrar(ctx, unanswered)
		if err == nil {
			granted, code, err = r.register(ctx, g.cfg.Expiry)
		}
		if ctx.Err() != nil {
			break
		}
		var wait time.Duration
		if err != nil {
			g.m.registers.WithLabelValues("failed").Inc()
			g.setReg(Registration{State: "failed", Registrar: g.cfg.Registrar, Code: code, LastError: err.Error()})
			g.log.Warn("SIP registration failed; retrying", "registrar", g.cfg.Registrar, "code", code, "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, g.opts.RetryMax)
			if errors.Is(err, errNoResponse) {
				unanswered++
				if g.keepalive > 0 {
					// Down or restarting: try again soon enough to be back
					// within a keepalive interval of its return.
					wait = min(wait, g.keepalive)
				}
			}
		} else {
			unanswered = 0
			g.m.registers.WithLabelValues("ok").Inc()
			if g.Registration().State != "registered" {
				g.log.Info("registered at the PBX", "registrar", g.cfg.Registrar, "expires", granted)
			}
			g.setReg(Registration{State: "registered", Registrar: g.cfg.Registrar, Code: code, Expires: granted})
			backoff = g.opts.RetryMin
			wait = granted * 3 / 4
			if g.keepalive > 0 {
				if lost := r.keepAlive(ctx, wait); lost != nil {
					why := "forgotten"
					if errors.Is(lost, errNoResponse) {
						why = "unanswered"
					}
					g.m.lost.WithLabelValues(why).Inc()
					g.log.Warn("SIP registration lost; registering again", "registrar", g.cfg.Registrar, "err", lost)
					g.setReg(Registration{State: "failed", Registrar: g.cfg.Registrar, LastError: lost.Error()})
					if errors.Is(lost, errNoResponse) {
						unanswered++
					}
					continue
				}
				wait = 0 // refresh now
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		break
	}
	if g.Registration().State == "registered" {
		uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, _, err := r.register(uctx, 0); err != nil {
			g.log.Debug("unregister", "err", err)
		}
		cancel()
	}
	g.setReg(Registration{State: "unregistered", Registrar: g.cfg.Registrar})
}

// errLost: the registrar answers but no longer routes to pbxgate.
var errLost = errors.New("the registrar no longer knows pbxgate's contact (restarted?)")

// keepAlive sends an OPTIONS every keepalive interval until the refresh
// is due (nil) or the registration looks lost (the reason). The OPTIONS
// goes to pbxgate's own address of record through the registrar: a
// registrar that routes it back to pbxgate (a proxy such as Kamailio)
// proves the registration end to end, and its 404/480/410 afterwards
// means the registration is gone; a PBX that answers OPTIONS itself
// (Asterisk) only proves it is up.
func (r *registrar) keepAlive(ctx context.Context, until time.Duration) error {
	refresh := time.NewTimer(until)
	defer refresh.Stop()
	tick := time.NewTicker(r.g.keepalive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			return nil
		case <-tick.C:
		}
		code, looped, err := r.probe(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("%w to the keepalive OPTIONS: %v", errNoResponse, err)
		case code >= 200 && code < 300:
			if looped && !r.g.routesBack.Swap(true) {
				r.g.log.Info("keepalive OPTIONS come back through the registrar: a lost registration will be noticed", "registrar", r.g.cfg.Registrar)
			}
		case (code == 404 || code == 480 || code == 410) && r.g.routesBack.Load():
			return fmt.Errorf("%w: keepalive OPTIONS answered %d", errLost, code)
		}
	}
}

// probe sends one keepalive OPTIONS; looped reports whether it reached
// pbxgate through the registrar.
func (r *registrar) probe(ctx context.Context) (code int, looped bool, err error) {
	g := r.g
	aor := sip.Uri{Scheme: "sip", User: g.cfg.Username, Host: g.pbxHost, Port: g.pbxPort}
	req := sip.NewRequest(sip.OPTIONS, aor)
	req.SetTransport(g.transportParam())
	g.toPBX(req)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: g.cfg.Username, Host: g.pbxHost}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	r.probes++
	callID := sip.CallIDHeader(g.probeID + strconv.FormatUint(r.probes, 10))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	req.AppendHeader(sip.NewHeader("Accept", acceptTypes))
	req.SetBody(nil)
	g.probeLooped.Store(false)
	tctx, cancel := context.WithTimeout(ctx, min(g.opts.RequestTimeout, max(g.keepalive, time.Second)))
	defer cancel()
	res, err := g.client.Do(tctx, req)
	if err != nil {
		return 0, false, err
	}
	return res.StatusCode, g.probeLooped.Load(), nil
}

type registrar struct {
	g      *Gateway
	callID sip.CallIDHeader // the same for every refresh (RFC 3261 10.2.4)
	cseq   uint32
	probes uint64 // keepalive OPTIONS sent
}

var errNoResponse = errors.New("no response from the registrar")

// register sends one REGISTER (answering a digest challenge) and returns
// the expiry the registrar granted.
func (r *registrar) register(ctx context.Context, expiry time.Duration) (time.Duration, int, error) {
	g := r.g
	aor := sip.Uri{Scheme: "sip", User: g.cfg.Username, Host: g.pbxHost}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: g.pbxHost, Port: g.pbxPort})
	req.SetTransport(g.transportParam())
	g.toPBX(req)
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: aor, Params: sip.NewParams()}
	contact := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: g.cfg.Username, Host: g.contactHost, Port: g.contactPort,
		UriParams: sip.NewParams()}}
	if g.network != "udp" {
		contact.Address.UriParams.Add("transport", g.network)
	}
	r.cseq++
	callID := r.callID
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: r.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expiry/time.Second))))
	req.SetBody(nil)
	tctx, cancel := context.WithTimeout(ctx, g.opts.RequestTimeout)
	defer cancel()
	res, err := g.client.Do(tctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = g.client.DoDigestAuth(tctx, req, res, sipgo.DigestAuth{Username: g.cfg.Username, Password: g.cfg.Password.Reveal()})
		r.cseq = req.CSeq().SeqNo
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w at %s: %v", errNoResponse, g.cfg.Registrar, err)
	}
	switch {
	case res.StatusCode == 200:
	case res.StatusCode == 401 || res.StatusCode == 407 || res.StatusCode == 403:
		return 0, res.StatusCode, fmt.Errorf("registrar refused the credentials (%d %s): check sip.username and sip.password", res.StatusCode, res.Reason)
	case res.StatusCode == 423:
		return 0, res.StatusCode, fmt.Errorf("registrar wants a longer expiry (423 %s): raise sip.register_expiry", res.Reason)
	default:
		return 0, res.StatusCode, fmt.Errorf("registrar answered %d %s", res.StatusCode, res.Reason)
	}
	if expiry == 0 {
		return 0, res.StatusCode, nil
	}
	return grantedExpiry(res, g.contactHost, g.contactPort, expiry), res.StatusCode, nil
}

// grantedExpiry reads the expiry the registrar granted our contact
// (Contact ;expires= or Expires header), falling back to what we asked.
func grantedExpiry(res *sip.Response, host string, port int, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.Host != host || (c.Address.Port != 0 && c.Address.Port != port) {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}
