package modem

import (
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
	"github.com/pbxgate/pbxgate/gateway/config"
)

// TestStoredReportsFromConfig: `stored_reports: true` in a device's
// configuration reaches the driver, and an EC25 (whose reports are
// otherwise routed, +CDS and AT+CNMA) then keeps them stored (<ds>=2, no
// AT+CSMS=1); without the key the same modem routes them.
func TestStoredReportsFromConfig(t *testing.T) {
	t.Parallel()
	for _, stored := range []bool{true, false} {
		yaml := "modems:\n  discover: false\n  devices:\n    - name: gsm1\n      device: /dev/null\n      delivery_reports: true\n"
		if stored {
			yaml += "      stored_reports: true\n"
		}
		cfg, err := config.Parse([]byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		mc := ConfigFor(cfg.Modems, cfg.Modems.Devices[0], nil, nil)
		if mc.StoredReports != stored {
			t.Fatalf("stored_reports %v in the file: Config.StoredReports %v", stored, mc.StoredReports)
		}
		rig := newRig(t, modemsim.Config{Model: "EC25", DeliveryReportDelay: 5 * time.Millisecond})
		rig.cfg.DeliveryReports = mc.DeliveryReports
		rig.cfg.StoredReports = mc.StoredReports
		m := rig.start(t)
		d := m.dialectNow()
		if routed := d.ds == 1 && d.csms; routed == stored {
			t.Fatalf("stored_reports %v: <ds> %d, AT+CSMS=1 %v", stored, d.ds, d.csms)
		}
		wantReport(t, rig, sendWithReport(t, m, "from config"))
	}
}
