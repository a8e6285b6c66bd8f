package modem

import (
	"context"
	"log/slog"

	"github.com/pbxgate/pbxgate/gateway/config"
)

// ConfigFor builds a modem Config from the daemon configuration
// (modems.* and one modems.devices[] entry). A device with an IMEI is
// bound to it: its configured path is used while that port answers with
// the IMEI, otherwise discovery finds the modem under its new name. inUse
// (may be nil) tells discovery which ports other modems have open so they
// are not probed.
func ConfigFor(mods config.Modems, d config.ModemDevice, inUse func(path string) bool, logger *slog.Logger) Config {
	c := Config{
		Name:            d.Name,
		Device:          d.Device,
		IMEI:            d.IMEI,
		Baud:            d.Baud,
		PIN:             d.PIN.Reveal(),
		CommandTimeout:  mods.CommandTimeout,
		InitTimeout:     mods.InitTimeout,
		PollInterval:    mods.PollInterval,
		DeliveryReports: d.DeliveryReports,
		StoredReports:   d.StoredReports,
		SendTimeout:     d.SendTimeout,
		InitCommands:    d.InitCommands,
		ResetCommand:    d.ResetCommand,
		FlowControl:     d.FlowControl,
		Logger:          logger,
	}
	if d.IMEI != "" && mods.Discover {
		locate := LocateIMEI(d.IMEI, d.Baud, mods.CommandTimeout, inUse)
		c.Locate = func(ctx context.Context) (string, error) {
			if d.Device != "" {
				if id, err := Identify(ctx, d.Device, d.Baud, mods.CommandTimeout); err == nil && id.IMEI == d.IMEI {
					return d.Device, nil
				}
			}
			return locate(ctx)
		}
	}
	return c
}
