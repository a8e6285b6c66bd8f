package rules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// campaignStarter is the adapter the daemon puts between the rules and the
// real campaign engine: the rule names a prepared draft, and each keyword
// starts a copy of it for the one contact.
type campaignStarter struct{ eng *campaign.Engine }

func (s *campaignStarter) StartForContact(ctx context.Context, id string, in message.Inbound, vars map[string]string) error {
	tpl, err := s.eng.Get(ctx, id)
	if err != nil {
		return err
	}
	spec := tpl.Spec
	spec.Name = tpl.Spec.Name + " → " + in.From
	spec.When = campaign.When{Kind: "now"}
	_, err = s.eng.Create(ctx, spec, []recipients.Recipient{{Number: in.From, Vars: vars}})
	if errors.Is(err, campaign.ErrInvalid) {
		return permanentErr{err} // e.g. a placeholder this contact has no value for
	}
	return err
}

// smsChannel stands in for the modem pool behind the campaign engine.
type smsChannel struct{ sent chan message.Outbound }

func (c *smsChannel) Name() string       { return "sms1" }
func (c *smsChannel) Kind() message.Kind { return message.SMS }
func (c *smsChannel) MaxPerMinute() int  { return 0 }
func (c *smsChannel) Send(_ context.Context, m message.Outbound) error {
	c.sent <- m
	return nil
}

func TestKeywordStartsARealCampaignThatSkipsOptedOut(t *testing.T) {
	t.Parallel()
	starter := &campaignStarter{}
	bob := "+4917000000077"
	v := newEnv(t, func(c *Config) {
		c.Campaigns = starter
		c.Contacts = contacts{anna: {Fields: map[string]string{"first_name": "Anna"}}, bob: {Fields: map[string]string{"First_Name": "Bob"}}}
	})
	ch := &smsChannel{sent: make(chan message.Outbound, 4)}
	eng, err := campaign.New(campaign.Config{Store: v.st, Channels: map[string]campaign.Channel{"sms1": ch},
		Blocker: v.cs, Location: berlin, Region: "DE", Limits: campaign.Limits{MaxCampaigns: 100, MaxRecipients: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	starter.eng = eng
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	tpl, err := eng.Create(ctx, campaign.Spec{Name: "Frühling", Channel: "sms1", Mode: campaign.Direct,
		Content: campaign.Content{Text: "Hallo {{first_name}}! Ihr Code: FRUEHLING ({{MSGID}})"}, When: campaign.When{Kind: "draft"}},
		[]recipients.Recipient{{Number: "+4930000000", Vars: map[string]string{"first_name": "Muster", "MSGID": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	v.save(Rule{Name: "promo", Keyword: Define, Match: Contains, Pattern: "frühling",
		Actions: []Action{{Type: StartCampaign, Campaign: tpl.ID}}})

	res := v.handle(anna, "Frühling!")
	if o := res.Outcomes[0]; o.Status != Done {
		t.Fatalf("outcome %+v", o)
	}
	select {
	case m := <-ch.sent:
		if m.To != anna || m.Text != "Hallo Anna! Ihr Code: FRUEHLING ("+res.Inbound.ID+")" {
			t.Errorf("sent %+v", m)
		}
		// The channel reports delivery; the campaign completes and the
		// channel is free for the next (campaigns queue per channel).
		if err := eng.HandleStatus(ctx, message.StatusEvent{ID: m.ID, Ref: m.Ref, Status: message.Delivered, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		for _, c := range eng.List(ctx, campaign.ListQuery{}).Items {
			rs, _ := eng.Recipients(ctx, c.ID, campaign.RecipientQuery{})
			t.Logf("%s %s %s %+v", c.Spec.Name, c.State, c.Reason, rs.Items)
		}
		t.Fatal("the campaign sent nothing")
	}

	// An opted-out contact asking again is excluded, with the reason.
	v.handle(bob, "stop")
	changed := eng.Changes()
	v.handle(bob, "FRÜHLING")
	for {
		page := eng.List(ctx, campaign.ListQuery{Search: bob})
		if len(page.Items) == 1 {
			rs, err := eng.Recipients(ctx, page.Items[0].ID, campaign.RecipientQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs.Items) == 1 && rs.Items[0].Status == campaign.RExcluded {
				if !strings.Contains(rs.Items[0].Reason, "opted out") {
					t.Errorf("reason %q", rs.Items[0].Reason)
				}
				break
			}
		}
		select {
		case <-changed:
			changed = eng.Changes()
		case <-time.After(10 * time.Second):
			for _, c := range eng.List(ctx, campaign.ListQuery{}).Items {
				rs, _ := eng.Recipients(ctx, c.ID, campaign.RecipientQuery{})
				t.Logf("%s %s %s %+v", c.Spec.Name, c.State, c.Reason, rs.Items)
			}
			t.Fatal("the opted-out contact was never excluded")
		}
	}
	select {
	case m := <-ch.sent:
		t.Errorf("sent to an opted-out contact: %+v", m)
	default:
	}

	// A contact the template has no first name for: the campaign refuses,
	// and the action fails for good with its reason (no retries).
	res = v.handle("+4917000000088", "frühling")
	if o := res.Outcomes[0]; o.Status != Failed || !strings.Contains(o.Detail, "no value for {{first_name}}") {
		t.Errorf("outcome %+v", o)
	}
}
