// Command waemu runs the local WhatsApp Cloud API emulator on its own, for
// demos and for trying pbxgate without a Meta account:
//
//	waemu -listen 127.0.0.1:8090 -callback http://127.0.0.1:8080/webhooks/whatsapp
//
// Point pbxgate at it with whatsapp.base_url: http://127.0.0.1:8090 and the
// token, app secret and ids it prints. Inject a customer message with
//
//	curl -d '{"from":"491701234567","name":"Anna","type":"text","text":"Hallo"}' http://127.0.0.1:8090/_emu/inbound
//
// Further numbers of the same account (whatsapp.numbers in pbxgate):
// -numbers 106540352242933=15550783999,… ; a customer writes to one with
// "to": "106540352242933" in the inbound body.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

func main() {
	var o waemu.Options
	listen := flag.String("listen", "127.0.0.1:8090", "address for the emulated Graph API")
	flag.StringVar(&o.CallbackURL, "callback", "", "webhook URL of pbxgate, e.g. http://127.0.0.1:8080/webhooks/whatsapp")
	flag.StringVar(&o.Token, "token", "emu-token", "access token clients must send")
	flag.StringVar(&o.AppSecret, "app-secret", "emu-app-secret", "app secret that signs webhooks")
	flag.StringVar(&o.PhoneNumberID, "phone-number-id", "106540352242922", "phone number id")
	flag.StringVar(&o.WABAID, "waba-id", "102290129340398", "WhatsApp Business Account id")
	flag.IntVar(&o.Throughput, "throughput", 80, "messages per second before error 130429")
	flag.DurationVar(&o.StatusDelay, "status-delay", time.Second, "pause between sent, delivered and read webhooks")
	numbers := flag.String("numbers", "", "further phone numbers of the account: id=display,… (display optional)")
	flag.Parse()
	for _, n := range strings.Split(*numbers, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		id, display, _ := strings.Cut(n, "=")
		if strings.Trim(id, "0123456789") != "" || id == "" {
			fmt.Fprintf(os.Stderr, "waemu: -numbers: %q is not a numeric phone number id\n", id)
			os.Exit(2)
		}
		o.Numbers = append(o.Numbers, waemu.Number{PhoneNumberID: id, DisplayPhoneNumber: display})
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "waemu:", err)
		os.Exit(1)
	}
	emu := waemu.New(o)
	eo := emu.Options()
	fmt.Printf("WhatsApp Cloud API emulator on http://%s\n  base_url: http://%s\n  phone_number_id: %s\n  business_account_id: %s\n  token: %s\n  app_secret: %s\n  callback: %s\n",
		ln.Addr(), ln.Addr(), eo.PhoneNumberID, eo.WABAID, eo.Token, eo.AppSecret, eo.CallbackURL)
	for _, n := range eo.Numbers {
		fmt.Printf("  numbers: phone_number_id %s (display %s)\n", n.PhoneNumberID, n.DisplayPhoneNumber)
	}
	if err := emu.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "waemu:", err)
		os.Exit(1)
	}
}
