package modemsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/mms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// MMSC fakes a carrier's MMS centre on loopback: it takes m-send-req over
// MM1 (HTTP POST of an OMA-MMS-ENC PDU with Content-Type
// application/vnd.wap.mms-message, answered by m-send-conf), enforces a
// size limit, can fail on purpose, and hands MMS for simulated SIMs to
// them as a WAP push SMS (m-notification-ind) whose X-Mms-Content-Location
// the modem fetches with HTTP GET (m-retrieve-conf).
type MMSC struct {
	net *Network
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	maxSize  int
	failure  MMSCFailure
	received []ReceivedMMS
	store    map[string]mms.Message
	seq      int
}

// MMSCFailure makes the MMSC fail every submission: "http" answers 503,
// "status" answers m-send-conf with Error-transient-network-problem, ""
// works normally.
type MMSCFailure string

// ReceivedMMS is one m-send-req the MMSC accepted, decoded.
type ReceivedMMS struct {
	MessageID string
	Size      int // bytes of the PDU
	PDU       mms.Message
	// Raw is the m-send-req as it arrived (OMA-MMS-ENC binary PDU), for
	// tests that decode it themselves.
	Raw []byte    `json:"raw"`
	At  time.Time `json:"at"`
}

// StartMMSC starts the MMSC of this network on 127.0.0.1 with a size
// limit in bytes (0: 300 KB). It stops with Close or the network.
func (n *Network) StartMMSC(maxSize int) (*MMSC, error) {
	if maxSize <= 0 {
		maxSize = 300 * 1024
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("modemsim: MMSC listen: %w", err)
	}
	c := &MMSC{net: n, ln: ln, maxSize: maxSize, store: map[string]mms.Message{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mms", c.submit)
	mux.HandleFunc("GET /mms/{id}", c.retrieve)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = c.srv.Serve(ln) }()
	n.mu.Lock()
	n.mmsc = c
	n.mu.Unlock()
	return c, nil
}

// URL is the MMSC URL to configure (AT+QMMSCFG="mmsc" / AT+CMMSCURL).
func (c *MMSC) URL() string { return "http://" + c.ln.Addr().String() + "/mms" }

// SetMaxSize changes the size limit.
func (c *MMSC) SetMaxSize(n int) { c.mu.Lock(); c.maxSize = n; c.mu.Unlock() }

// SetFailure switches the failure mode.
func (c *MMSC) SetFailure(f MMSCFailure) { c.mu.Lock(); c.failure = f; c.mu.Unlock() }

// Received lists the accepted submissions, oldest first.
func (c *MMSC) Received() []ReceivedMMS {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ReceivedMMS(nil), c.received...)
}

// controls serves the MMSC's part of the control API: GET /mmsc/received
// lists the accepted submissions (raw PDUs base64), PUT /mmsc/failure
// {"mode":"http"|"status"|""} switches the failure mode.
func (n *Network) mmscControls(mux *http.ServeMux) {
	mmsc := func(w http.ResponseWriter) *MMSC {
		n.mu.Lock()
		c := n.mmsc
		n.mu.Unlock()
		if c == nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("modemsim: no MMSC is running"))
		}
		return c
	}
	mux.HandleFunc("GET /mmsc/received", func(w http.ResponseWriter, r *http.Request) {
		if c := mmsc(w); c != nil {
			type item struct {
				MessageID string    `json:"message_id"`
				Size      int       `json:"size"`
				Raw       []byte    `json:"raw"`
				At        time.Time `json:"at"`
			}
			out := []item{}
			for _, m := range c.Received() {
				out = append(out, item{m.MessageID, m.Size, m.Raw, m.At})
			}
			writeJSON(w, http.StatusOK, out)
		}
	})
	mux.HandleFunc("PUT /mmsc/failure", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Mode MMSCFailure `json:"mode"`
		}
		if !readJSON(w, r, &req) {
			return
		}
		if req.Mode != "" && req.Mode != "http" && req.Mode != "status" {
			writeError(w, http.StatusUnprocessableEntity, fmt.Errorf("modemsim: MMSC failure mode %q: use \"http\", \"status\" or \"\"", req.Mode))
			return
		}
		if c := mmsc(w); c != nil {
			c.SetFailure(req.Mode)
			writeJSON(w, http.StatusOK, req)
		}
	})
}

// Close stops the server.
func (c *MMSC) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.srv.Shutdown(ctx)
}

func (c *MMSC) conf(w http.ResponseWriter, tid string, status int, text, id string) {
	b, _ := mms.Encode(mms.Message{Type: mms.TypeSendConf, TransactionID: tid, ResponseStatus: status, ResponseText: text, MessageID: id})
	w.Header().Set("Content-Type", "application/vnd.wap.mms-message")
	_, _ = w.Write(b)
}

func (c *MMSC) submit(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	maxSize, failure := c.maxSize, c.failure
	c.mu.Unlock()
	if failure == "http" {
		http.Error(w, "MMSC unavailable", http.StatusServiceUnavailable)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/vnd.wap.mms-message") {
		http.Error(w, "content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	m, err := mms.Decode(body)
	if err != nil || m.Type != mms.TypeSendReq {
		c.conf(w, m.TransactionID, mms.StatusPermanentFormatCorrupt, "not an m-send-req", "")
		return
	}
	switch {
	case failure == "status":
		c.conf(w, m.TransactionID, mms.StatusTransientNetworkProblem, "MMSC overloaded", "")
		return
	case len(body) > maxSize:
		c.conf(w, m.TransactionID, mms.StatusPermanentContentRejected, fmt.Sprintf("message size %d exceeds %d", len(body), maxSize), "")
		return
	case len(m.To) == 0:
		c.conf(w, m.TransactionID, mms.StatusPermanentFormatCorrupt, "no recipient", "")
		return
	}
	c.mu.Lock()
	c.seq++
	id := "msg" + strconv.Itoa(c.seq)
	c.received = append(c.received, ReceivedMMS{MessageID: id, Size: len(body), PDU: m, Raw: body, At: time.Now()})
	c.mu.Unlock()
	c.conf(w, m.TransactionID, mms.StatusOK, "", id)
	from := ""
	if sender := c.senderOf(r); sender != nil {
		from = sender.cfg.Number
	}
	for _, to := range m.To {
		if target := c.net.ModemByNumber(to); target != nil {
			_ = c.Deliver(to, from, m.Subject, m.Parts)
		}
	}
}

// senderOf finds the simulated modem that posted (the modem sets the
// X-Sim-IMEI header; a real MMSC knows the sender from the bearer).
func (c *MMSC) senderOf(r *http.Request) *Modem {
	return c.net.ModemByIMEI(r.Header.Get("X-Sim-IMEI"))
}

// Deliver makes an MMS from outside arrive for the SIM with number to:
// the MMSC keeps it and pushes an m-notification-ind by SMS.
func (c *MMSC) Deliver(to, from, subject string, parts []mms.Part) error {
	target := c.net.ModemByNumber(to)
	if target == nil {
		return fmt.Errorf("%w: %q", ErrUnknownNumber, to)
	}
	c.mu.Lock()
	c.seq++
	id := "in" + strconv.Itoa(c.seq)
	msg := mms.Message{Type: mms.TypeRetrieveConf, MessageID: id, Date: time.Now(), From: from, To: []string{to},
		Subject: subject, ContentType: "application/vnd.wap.multipart.related", Start: "smil", Parts: parts}
	c.store[id] = msg
	c.mu.Unlock()
	enc, err := mms.Encode(msg)
	if err != nil {
		return err
	}
	ind, err := mms.Encode(mms.Message{Type: mms.TypeNotificationInd, TransactionID: id, From: from, Subject: subject,
		MessageSize: len(enc), Expiry: 72 * time.Hour, ContentLocation: "http://" + c.ln.Addr().String() + "/mms/" + id})
	if err != nil {
		return err
	}
	push := mms.EncodePush(byte(c.seq), ind)
	if len(push) > 140-7 {
		return fmt.Errorf("modemsim: WAP push of %d bytes needs more than one SMS", len(push))
	}
	t, err := tpdu.NewDeliver()
	if err != nil {
		return err
	}
	t.OA = address("+491760000000") // the carrier's push sender
	t.SCTS = tpdu.Timestamp{Time: time.Now()}
	t.SetDCS(0x04) // 8-bit data
	t.SetUDH(tpdu.UserDataHeader{{ID: 0x05, Data: []byte{mms.PushPort >> 8, mms.PushPort & 0xFF, mms.PushSourcePort >> 8, mms.PushSourcePort & 0xFF}}})
	t.SetUD(push)
	return target.enqueue(&pendingPart{pdu: t})
}

func (c *MMSC) retrieve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	m, ok := c.store[r.PathValue("id")]
	c.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, err := mms.Encode(m)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.wap.mms-message")
	_, _ = w.Write(b)
}

// post submits a PDU like a modem's MMS stack (HTTP POST to the MMSC,
// through the proxy when one is set) and returns the HTTP status and the
// m-send-conf.
func postMMS(ctx context.Context, mmscURL, proxy, imei string, pdu []byte) (int, mms.Message, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, mmscURL, bytes.NewReader(pdu))
	if err != nil {
		return 0, mms.Message{}, err
	}
	req.Header.Set("Content-Type", "application/vnd.wap.mms-message")
	req.Header.Set("X-Sim-IMEI", imei)
	resp, err := mmsClient(proxy).Do(req)
	if err != nil {
		return 0, mms.Message{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, mms.Message{}, nil
	}
	conf, err := mms.Decode(b)
	return resp.StatusCode, conf, err
}

func getMMS(ctx context.Context, location, proxy string) (mms.Message, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return mms.Message{}, err
	}
	resp, err := mmsClient(proxy).Do(req)
	if err != nil {
		return mms.Message{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return mms.Message{}, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return mms.Message{}, err
	}
	return mms.Decode(b)
}

// mmsClient goes direct: tests must stay on loopback, and a proxy
// configured from a carrier preset (10.x) is not reachable from here.
// The configured proxy is recorded but not used.
func mmsClient(string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
}
