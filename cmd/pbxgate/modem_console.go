package main

import (
	"context"
	"errors"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/web"
)

// modemConsole gives the portal each modem's AT trace and the admins' AT
// console (web.ModemConsole).
type modemConsole struct{ d *daemon }

func (mc modemConsole) modem(name string) (*modem.Modem, error) {
	if mc.d.sms == nil {
		return nil, web.ErrUnknownModem
	}
	m, ok := mc.d.sms.modem(name)
	if !ok {
		return nil, web.ErrUnknownModem
	}
	return m, nil
}

func (mc modemConsole) ModemTrace(_ context.Context, name string) ([]web.ATLine, error) {
	m, err := mc.modem(name)
	if err != nil {
		return nil, err
	}
	tr := m.Trace()
	out := make([]web.ATLine, len(tr))
	for i, l := range tr {
		out[i] = web.ATLine{At: l.At, Out: l.Dir == "out", Text: l.Text}
	}
	return out, nil
}

func (modemConsole) CheckAT(command string) (web.ATCheck, error) {
	ck, err := modem.CheckConsole(command)
	if ie := (*modem.ConsoleInputError)(nil); errors.As(err, &ie) {
		return web.ATCheck{}, &web.ATInputError{Problem: ie.Problem}
	} else if err != nil {
		return web.ATCheck{}, err
	}
	risk := web.ATSafe
	switch ck.Risk {
	case modem.ConsoleConfirm:
		risk = web.ATConfirm
	case modem.ConsoleRefused:
		risk = web.ATRefused
	}
	return web.ATCheck{Risk: risk, Reason: ck.Reason, Shown: ck.Shown}, nil
}

func (mc modemConsole) RunAT(ctx context.Context, name, command string, timeout time.Duration, confirmed bool) (web.ATResult, error) {
	m, err := mc.modem(name)
	if err != nil {
		return web.ATResult{}, err
	}
	res, err := m.Console(ctx, command, timeout, confirmed)
	return web.ATResult{Lines: res.Lines, Final: res.Final, Took: res.Took}, err
}
