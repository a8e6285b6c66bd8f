package modemsim

import (
	"fmt"
	"strings"
)

// model describes how one modem family looks and behaves over the wire.
// The differences are the ones drivers trip over in the field, so they are
// modelled rather than smoothed away.
type model struct {
	name         string
	manufacturer string
	modelID      string // AT+CGMM
	revision     string // AT+CGMR
	// ati renders the ATI answer (formats differ per vendor).
	ati func(m model, imei string) []string
	// iccid maps an AT command (without "AT") to a renderer of its answer;
	// commands not in the map are unknown to the model.
	iccid map[string]func(iccid string) string
	// memories the model supports, in the order AT+CPMS=? lists them.
	memories []string
	// srQuirk: status reports are stored in "SR" but announced as
	// +CDSI: "SM",<index> (Quectel EC25).
	srQuirk bool
	// statusMemory is where status reports are stored with CNMI ds=2
	// ("" means the current <mem3>).
	statusMemory string
	hasCEREG     bool
	act          int // access technology in +COPS (0 GSM, 7 E-UTRAN)
	firstIndex   int // storage index base (Quectel counts from 0)
	cnmiDefault  [5]int
	// cnmiDS are the <ds> values the firmware's AT+CNMI takes (nil: 0, 1
	// and 2) and cnmiTest its AT+CNMI=? answer ("": built from them);
	// Config.CNMIDS overrides both.
	cnmiDS   []int
	cnmiTest string
	// cmeeDefault is the power-on AT+CMEE value.
	cmeeDefault int
	// pinCounter is the vendor command that reports remaining PIN/PUK tries.
	pinCounter string
	// ussdPacked: USSD strings travel as hex of packed GSM 7-bit septets in
	// both directions (Huawei sticks), not in the TE character set.
	ussdPacked bool
	// periodicURC is a status line the firmware repeats until switched off
	// (Huawei "^RSSI: %d", off with AT^CURC=0); %d is the RSSI.
	periodicURC string
	// accepts are vendor configuration commands the model takes with OK.
	accepts []string
	// bootURCs are the lines the firmware prints when it has booted
	// (Config.BootURCs); "%CPIN%" becomes the SIM state.
	bootURCs []string
	// mms is the MMS command set: "quectel" (AT+QMMS…, send only, as in
	// Quectel's LTE Standard MMS Application Note), "simcom" (AT+CMMS…,
	// send and receive) or "" (none).
	mms string
}

var models = map[string]model{
	"EC25": {
		name:         "EC25",
		manufacturer: "Quectel",
		modelID:      "EC25",
		revision:     "EC25EFAR06A06M4G",
		ati: func(m model, _ string) []string {
			return []string{m.manufacturer, m.modelID, "Revision: " + m.revision}
		},
		iccid: map[string]func(string) string{
			"+QCCID": func(s string) string { return "+QCCID: " + s },
		},
		memories:     []string{"SM", "ME", "SR"},
		srQuirk:      true,
		statusMemory: "SR",
		hasCEREG:     true,
		act:          7,
		firstIndex:   0,
		cnmiDefault:  [5]int{2, 1, 0, 0, 0},
		pinCounter:   "+QPINC",
		accepts:      []string{"+QURCCFG", "+QINDCFG", "+QCFG"},
		bootURCs:     []string{"RDY", "+CFUN: 1", "+CPIN: %CPIN%", "+QUSIM: 1", "+QIND: SMS DONE"},
		mms:          "quectel",
	},
	"SIM7600": {
		name:         "SIM7600",
		manufacturer: "SIMCOM INCORPORATED",
		modelID:      "SIMCOM_SIM7600E-H",
		revision:     "LE20B04SIM7600M22",
		ati: func(m model, imei string) []string {
			return []string{"Manufacturer: " + m.manufacturer, "Model: " + m.modelID,
				"Revision: " + m.revision, "IMEI: " + imei, "+GCAP: +CGSM"}
		},
		iccid: map[string]func(string) string{
			"+CICCID": func(s string) string { return "+ICCID: " + s },
			"+CCID":   func(s string) string { return "+CCID: " + s },
		},
		memories:     []string{"SM", "ME", "SR"},
		statusMemory: "SR",
		hasCEREG:     true,
		act:          7,
		firstIndex:   1,
		cnmiDefault:  [5]int{2, 1, 0, 0, 0},
		pinCounter:   "+SPIC",
		// Power-on "+CMEE: 2" as a SIM7600G-H shows it in AT&V
		// (github.com/Xinyuan-LilyGO/LilyGo-Modem-Series/issues/340).
		cmeeDefault: 2,
		accepts:     []string{"+CATR", "+CNMP"},
		bootURCs:    []string{"RDY", "+CPIN: %CPIN%", "SMS DONE", "PB DONE"},
		mms:         "simcom",
	},
	"E3372": {
		name:         "E3372",
		manufacturer: "huawei",
		modelID:      "E3372",
		revision:     "22.200.15.00.00",
		ati: func(m model, imei string) []string {
			return []string{"Manufacturer: " + m.manufacturer, "Model: " + m.modelID,
				"Revision: " + m.revision, "IMEI: " + imei, "+GCAP: +CGSM,+DS,+ES"}
		},
		iccid: map[string]func(string) string{
			// Huawei answers with the raw EF_ICCID bytes: digit pairs swapped.
			"^ICCID": func(s string) string { return "^ICCID: " + swapNibbles(s) },
		},
		memories:    []string{"SM", "ME"},
		hasCEREG:    true,
		act:         7,
		firstIndex:  1,
		cnmiDefault: [5]int{1, 1, 0, 0, 0},
		pinCounter:  "^CPIN",
		ussdPacked:  true,
		periodicURC: "^RSSI: %d",
		accepts:     []string{"^SYSCFGEX", "^SYSCFG", "^NDISDUP"},
		bootURCs:    []string{"^SIMST: 1", "^SRVST: 2"},
	},
	"SIM800": {
		name:         "SIM800",
		manufacturer: "SIMCOM_Ltd",
		modelID:      "SIMCOM_SIM800L",
		revision:     "Revision:1418B04SIM800L24",
		ati: func(m model, _ string) []string {
			return []string{"SIM800 R14.18"}
		},
		iccid: map[string]func(string) string{
			"+CCID": func(s string) string { return s },
		},
		memories:   []string{"SM", "ME"},
		hasCEREG:   false,
		act:        0,
		firstIndex: 1,
		// A SIM800L takes no stored status reports (<ds> 0 and 1 only) and
		// powers on with 2,1,0,0,0: AT+CNMI=? and AT+CNMI? as typed on one
		// in github.com/faucamp/python-gsmmodem/issues/60.
		cnmiDefault: [5]int{2, 1, 0, 0, 0},
		cnmiDS:      []int{0, 1},
		cnmiTest:    "+CNMI: (0-3),(0-3),(0,2),(0,1),(0,1)",
		pinCounter:  "+SPIC",
		accepts:     []string{"+CSCLK", "+CIURC", "+IFC"},
		bootURCs:    []string{"RDY", "+CFUN: 1", "+CPIN: %CPIN%", "Call Ready", "SMS Ready"},
		mms:         "simcom",
	},
}

// Models lists the model names Config.Model accepts.
func Models() []string { return []string{"EC25", "SIM7600", "E3372", "SIM800"} }

func lookupModel(name string) (model, error) {
	if name == "" {
		name = "EC25"
	}
	m, ok := models[strings.ToUpper(name)]
	if !ok {
		return model{}, fmt.Errorf("modemsim: unknown model %q (known: %s)", name, strings.Join(Models(), ", "))
	}
	return m, nil
}

func (m model) hasMemory(mem string) bool {
	for _, x := range m.memories {
		if x == mem {
			return true
		}
	}
	return false
}

// swapNibbles swaps each pair of digits ("8949" -> "9894"), padding an odd
// length with F as the SIM stores it.
func swapNibbles(s string) string {
	if len(s)%2 == 1 {
		s += "F"
	}
	b := []byte(s)
	for i := 0; i+1 < len(b); i += 2 {
		b[i], b[i+1] = b[i+1], b[i]
	}
	return string(b)
}

func (m model) accepted(name string) bool {
	for _, a := range m.accepts {
		if a == name {
			return true
		}
	}
	return false
}
