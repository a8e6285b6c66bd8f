package clusterwork

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Spec is what a shared campaign is created from.
type Spec struct {
	Name    string   `json:"name"`
	Channel string   `json:"channel"`
	Text    string   `json:"text"`
	Numbers []string `json:"numbers"`
}

// MaxRecipients bounds one shared campaign (campaigns.max_recipients'
// default scale).
const MaxRecipients = 100000

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Validate names every problem of s; nothing is stored when it fails.
func (s Spec) Validate() error {
	var errs []string
	if strings.TrimSpace(s.Name) == "" {
		errs = append(errs, "name is empty")
	}
	if s.Channel == "" {
		errs = append(errs, "channel is empty (the SMS channel's name, the same on every box)")
	}
	if strings.TrimSpace(s.Text) == "" {
		errs = append(errs, "text is empty")
	}
	if len(s.Numbers) == 0 {
		errs = append(errs, "no recipients")
	}
	if len(s.Numbers) > MaxRecipients {
		errs = append(errs, fmt.Sprintf("%d recipients; at most %d", len(s.Numbers), MaxRecipients))
	}
	seen := map[string]int{}
	for i, n := range s.Numbers {
		if !e164.MatchString(n) {
			errs = append(errs, fmt.Sprintf("recipient %d: %q is not an international number like +4917012345678", i+1, n))
		} else if j, dup := seen[n]; dup {
			errs = append(errs, fmt.Sprintf("recipient %d: %s repeats recipient %d", i+1, n, j+1))
		}
		seen[n] = i
		if len(errs) > 20 {
			errs = append(errs, "…")
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Create stores a shared campaign and queues its recipients as work
// items; it runs on every box that has its channel at once. Publishing is
// idempotent per recipient (JetStream's message-ID dedupe), so a Create
// cut off half-way and repeated does not queue a recipient twice.
func (w *Work) Create(ctx context.Context, s Spec) (Campaign, error) {
	if err := s.Validate(); err != nil {
		return Campaign{}, err
	}
	if err := w.await(ctx); err != nil {
		return Campaign{}, err
	}
	now := time.Now().UTC()
	c := Campaign{ID: newID(), Name: s.Name, Channel: s.Channel, Text: s.Text, Recipients: len(s.Numbers),
		State: Stopped, CreatedBy: w.node.Name(), CreatedAt: now, UpdatedBy: w.node.Name(), UpdatedAt: now}
	// Stored stopped first: visible (and deletable) on every box while
	// its items are published; then running.
	if err := w.putCampaign(ctx, c); err != nil {
		return Campaign{}, err
	}
	subj := subjectPrefix + c.ID
	for i, n := range s.Numbers {
		v, _ := json.Marshal(item{Seq: i + 1, To: n})
		if _, err := w.js.PublishAsync(subj, v, jetstream.WithMsgID(claimKey(c.ID, i+1))); err != nil {
			return c, fmt.Errorf("clusterwork: queue recipient %d: %w", i+1, err)
		}
		if (i+1)%1000 == 0 {
			if err := waitPublished(ctx, w.js); err != nil {
				return c, err
			}
		}
	}
	if err := waitPublished(ctx, w.js); err != nil {
		return c, err
	}
	c.State = Running
	if err := w.putCampaign(ctx, c); err != nil {
		return c, err
	}
	return c, nil
}

func waitPublished(ctx context.Context, js jetstream.JetStream) error {
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("clusterwork: queueing recipients: %w", ctx.Err())
	case <-time.After(30 * time.Second):
		return errors.New("clusterwork: queueing recipients: the cluster did not confirm them within 30 s")
	}
}

func (w *Work) putCampaign(ctx context.Context, c Campaign) error {
	v, _ := json.Marshal(c)
	if _, err := w.cbucket.Put(ctx, c.ID, v); err != nil {
		return fmt.Errorf("clusterwork: store campaign %q: %w", c.Name, err)
	}
	return nil
}

func (w *Work) getCampaign(ctx context.Context, id string) (Campaign, uint64, error) {
	if err := w.await(ctx); err != nil {
		return Campaign{}, 0, err
	}
	e, err := w.cbucket.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Campaign{}, 0, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Campaign{}, 0, fmt.Errorf("clusterwork: %w", err)
	}
	var c Campaign
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return Campaign{}, 0, err
	}
	return c, e.Revision(), nil
}

// setState changes a campaign's state on every box (each box's watch of
// the bucket starts or stops its puller).
func (w *Work) setState(ctx context.Context, id string, to State) (Campaign, error) {
	c, rev, err := w.getCampaign(ctx, id)
	if err != nil {
		return c, err
	}
	c.State, c.UpdatedBy, c.UpdatedAt = to, w.node.Name(), time.Now().UTC()
	v, _ := json.Marshal(c)
	if _, err := w.cbucket.Update(ctx, id, v, rev); err != nil {
		return c, fmt.Errorf("clusterwork: %s campaign %q: %w", to, c.Name, err)
	}
	return c, nil
}

// Stop stops the campaign on every box: no box pulls another recipient;
// what the boxes' modems already have finishes.
func (w *Work) Stop(ctx context.Context, id string) (Campaign, error) {
	return w.setState(ctx, id, Stopped)
}

// Resume lets every box pull the campaign's recipients again.
func (w *Work) Resume(ctx context.Context, id string) (Campaign, error) {
	return w.setState(ctx, id, Running)
}

// Delete stops the campaign, drops its waiting recipients and its record;
// the claims (who sent what) are deleted too.
func (w *Work) Delete(ctx context.Context, id string) error {
	if _, err := w.Stop(ctx, id); err != nil {
		return err
	}
	if err := w.js.DeleteConsumer(ctx, StreamName, consumerName(id)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("clusterwork: delete campaign %s: %w", id, err)
	}
	s, err := w.js.Stream(ctx, StreamName)
	if err != nil {
		return fmt.Errorf("clusterwork: %w", err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(subjectPrefix+id)); err != nil {
		return fmt.Errorf("clusterwork: delete campaign %s: %w", id, err)
	}
	keys, err := w.claimKeys(ctx, id)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := w.claims.Purge(ctx, k); err != nil {
			return fmt.Errorf("clusterwork: delete campaign %s: %w", id, err)
		}
	}
	return w.cbucket.Purge(ctx, id)
}

func (w *Work) claimKeys(ctx context.Context, id string) ([]string, error) {
	lister, err := w.claims.ListKeysFiltered(ctx, id+".*")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("clusterwork: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

// Counts are recipients by claim state.
type Counts struct {
	Waiting   int `json:"waiting"` // not claimed by any box yet
	Sending   int `json:"sending"`
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	Unknown   int `json:"unknown"`
	Excluded  int `json:"excluded"`
}

// Final is how many recipients have an outcome.
func (c Counts) Final() int { return c.Sent + c.Delivered + c.Failed + c.Unknown + c.Excluded }

func (c *Counts) add(s ClaimState) {
	switch s {
	case CSending:
		c.Sending++
	case CSent:
		c.Sent++
	case CDelivered:
		c.Delivered++
	case CFailed:
		c.Failed++
	case CUnknown:
		c.Unknown++
	case CExcluded:
		c.Excluded++
	}
}

// Progress is a campaign with its counts over every box, and per box.
type Progress struct {
	Campaign
	Counts Counts            `json:"counts"`
	ByBox  map[string]Counts `json:"by_box"`
	// Claims by recipient number (Detail only).
	Claims map[string]Claim `json:"claims,omitempty"`
}

// Get returns the campaign's progress, aggregated from the claims every
// box wrote; with detail, each recipient's claim too.
func (w *Work) Get(ctx context.Context, id string, detail bool) (Progress, error) {
	c, _, err := w.getCampaign(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Campaign: c, ByBox: map[string]Counts{}}
	if detail {
		p.Claims = map[string]Claim{}
	}
	// A bucket between leaders (a box just died) does not answer; the
	// caller asks again rather than wait.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	watch, err := w.claims.Watch(wctx, id+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return p, fmt.Errorf("clusterwork: %w", err)
	}
	defer func() { _ = watch.Stop() }()
	claimed := 0
	// The watcher does not end with wctx (nats.go uses it only to create
	// its consumer): a watch whose initial values stall — a stream leader
	// changing — would block a range over Updates, and with it the portal
	// page or API request that asked, for as long as the client waits.
	updates := watch.Updates()
read:
	for {
		var e jetstream.KeyValueEntry
		select {
		case <-wctx.Done():
			break read
		case u, ok := <-updates:
			if !ok || u == nil {
				break read
			}
			e = u
		}
		var cl Claim
		if err := json.Unmarshal(e.Value(), &cl); err != nil {
			continue
		}
		claimed++
		p.Counts.add(cl.State)
		bc := p.ByBox[cl.Box]
		bc.add(cl.State)
		p.ByBox[cl.Box] = bc
		if detail {
			p.Claims[strings.TrimPrefix(e.Key(), id+".")] = cl
		}
	}
	if wctx.Err() != nil {
		return p, fmt.Errorf("clusterwork: reading the claims of %s: %w", id, wctx.Err())
	}
	p.Counts.Waiting = max(0, c.Recipients-claimed)
	return p, nil
}

// List returns the shared campaigns this box knows (the bucket's watch),
// newest first, without counts.
func (w *Work) List() []Campaign {
	w.mu.Lock()
	out := make([]Campaign, 0, len(w.camps))
	for _, c := range w.camps {
		out = append(out, c)
	}
	w.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out
}

// SeqOf parses a Detail claim's key (the recipient's position, 1-based).
func SeqOf(key string) (int, error) { return strconv.Atoi(key) }
