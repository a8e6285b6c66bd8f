// Command waemu runs the local WhatsApp Cloud API emulator on its own, for
// demos and for trying pbxgate without a Meta account:
//
//	waemu -listen 127.0.0.1:8090 -callback http://127.0.0.1:8080/webhooks/whatsapp
//
// Point pbxgate at it with whatsapp.base_url: http://127.0.0.1:8090 and the
// token, app secret and ids it prints. Inject a customer message with
//
//	curl -d '{"from":"491701234567","name":"Anna","type":"text","text":"Hallo"}' http://127.0.0.1:8090/_emu/inbound
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
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
	flag.Parse()
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
	if err := emu.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "waemu:", err)
		os.Exit(1)
	}
}
