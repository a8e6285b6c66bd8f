package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/mms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// An MMS sent to a simulated SIM arrives as a WAP push; the SIM7600
// fetches it (AT+CMMSRECV/VIEW/READ over its pty), the daemon saves the
// picture under data_dir/mms and puts the message into the inbox (Badger
// on disk) with the media; the portal's media source serves the file. The
// EC25 (Quectel: send only) yields the notification with the reason.
func TestInboundMMSIntoInbox(t *testing.T) {
	pic := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}, 300)
	for _, model := range []string{"SIM7600", "EC25"} {
		t.Run(model, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st, err := store.Open(store.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ib, err := inbox.New(inbox.Config{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var got []message.Inbound
			_ = ib.Register(inbox.ConsumerFunc(func(_ context.Context, in message.Inbound) error {
				mu.Lock()
				got = append(got, in)
				mu.Unlock()
				return nil
			}))
			go func() { _ = ib.Run(ctx) }()

			net := modemsim.NewNetwork()
			defer net.Close()
			sim, err := net.AddModem(ctx, modemsim.Config{Model: model, Number: "+4915200000001"})
			if err != nil {
				t.Fatal(err)
			}
			mmsc, err := net.StartMMSC(300 * 1024)
			if err != nil {
				t.Fatal(err)
			}
			d := &daemon{cfg: config.Config{DataDir: t.TempDir(), Channels: []config.SMSChannel{{Name: "sms", Modems: []string{"sim1"}}}},
				log: slog.New(slog.DiscardHandler)}
			side, err := d.newMMSSide([]config.ModemDevice{{Name: "sim1", MMS: &config.MMS{MMSC: mmsc.URL()}}}, ib, nil)
			if err != nil {
				t.Fatal(err)
			}
			md, err := modem.Open(ctx, modem.Config{Name: "sim1", Device: sim.Path(), CommandTimeout: 2 * time.Second,
				SendTimeout: 10 * time.Second, PollInterval: time.Hour, DrainInterval: time.Hour},
				modem.Handlers{MMS: side.inbound, PDU: func(context.Context, string, []byte) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			defer md.Close()
			go func() { _ = md.Run(ctx) }()
			side.attach("sim1", md)

			if err := net.DeliverMMS("+4915200000001", "+436641234567", "Foto", "Grüße aus Wien", []mms.Part{{ContentType: "image/jpeg", Name: "wien.jpg", Data: pic}}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no MMS in the inbox; trace %v", md.Trace())
				}
				time.Sleep(50 * time.Millisecond)
			}
			in := got[0]
			if in.Kind != message.SMS || in.Channel != "sms" || in.From != "+436641234567" || in.Receiver != "+4915200000001" {
				t.Fatalf("inbound %+v", in)
			}
			if model == "EC25" {
				if in.MediaID != "" || !strings.Contains(in.Unsupported, "not retrievable with this modem") || !strings.Contains(in.Text, "Foto") {
					t.Fatalf("EC25 notification %+v", in)
				}
				return
			}
			if in.Text != "Foto\nGrüße aus Wien" || in.MediaType != "image/jpeg" || !strings.HasSuffix(in.MediaID, ".jpg") {
				t.Fatalf("inbound %+v", in)
			}
			path, mime, err := mmsMedia{dir: side.dir}.MediaFile(ctx, in.MediaID)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(data, pic) || mime != "image/jpeg" {
				t.Fatalf("media %s %s: %d bytes, %v", path, mime, len(data), err)
			}
			if _, _, err := (mmsMedia{dir: side.dir}).MediaFile(ctx, "mms-../../etc/passwd"); err == nil {
				t.Fatal("a path outside the media directory was served")
			}
		})
	}
}
