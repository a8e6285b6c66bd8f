// Package modemsim simulates USB GSM/LTE modems well enough that a driver
// cannot tell them from real ones over the wire.
//
// Each Modem serves AT commands on its own pty (Path, e.g. /dev/pts/7) in
// raw mode, so a driver opens it with go.bug.st/serial exactly like
// /dev/ttyUSB2. Config.Link keeps a symlink to it that survives reboots,
// like udev's /dev/serial/by-id names. Modems share a Network, a simulated carrier: an SMS one
// modem sends to another simulated SIM's number arrives there as
// SMS-DELIVER; status reports come back when requested (TP-SRR); messages
// from outside are injected with Network.Inject or the control API.
//
// # Wire behaviour
//
// Echo is on after power-on and ATZ (ATE0/ATE1). Command lines may chain
// commands ("ATE0+CMEE=2;+CMGF=0"). Errors: "ERROR" for unknown commands,
// +CME ERROR (numeric with AT+CMEE=1, text with AT+CMEE=2, plain ERROR with
// 0) and +CMS ERROR (always numeric, as 27.005 prescribes) for SMS
// commands. Supported: AT, ATZ, AT&F, ATE, ATV, ATI, +CGMI, +CGMM, +CGMR,
// +CGSN, +GSN, +CIMI, +CNUM, the model's ICCID command (EC25 +QCCID, SIM7600
// +CICCID/+CCID, SIM800 +CCID, E3372 ^ICCID with swapped digit pairs), the
// model's PIN counter (+QPINC, +SPIC, ^CPIN), +CMEE, +CPIN (3 wrong PINs
// lock to SIM PUK; PUK + new PIN unlocks), +CSQ, +CREG, +CGREG, +CEREG (not
// on SIM800), +COPS, +CPMS, +CNMI, +CMGF, +CSCS, +CSMS, +CSCA, +CMGS (PDU
// and text mode; "> " prompt, Ctrl-Z sends, ESC cancels), +CMGR, +CMGL,
// +CMGD, +CNMA, +CUSD (OK, then the answer as +CUSD URC), +CFUN (1,1
// reboots: the port vanishes and returns, often under a new path; see
// WaitBoot), +CPAS, +CMMS, and with a plain OK +CLIP, +CRC, +CSDH and the
// model's vendor settings (+QURCCFG/+QCFG, ^SYSCFGEX, +CSCLK …).
//
// Dialect differences: identity strings and ATI layout; E3372 takes and
// answers USSD as hex of packed GSM 7-bit and repeats "^RSSI: n" (every
// Config.PeriodicURCInterval) until AT^CURC=0; SIM800 has no +CEREG and
// answers AT+CCID with the bare ICCID; with Config.BootURCs a rebooted
// modem greets its first opener with its firmware's start-up lines.
//
// Registration follows the SIM: no network while it is locked, then
// Config.RegistrationDelay of searching (+CREG stat 2) after boot, PIN
// entry or AT+CFUN=1; +CREG/+CEREG URCs report changes when enabled.
//
// With AT+CSMS=1 routed +CMT/+CDS must be acknowledged by AT+CNMA within
// Config.AckTimeout, and no further one is routed until then (27.005
// §3.4.4); otherwise the network retries later and the modem sets <mt>
// and <ds> of +CNMI to 0 (27.005), so a message ends up stored and a
// report is discarded (<ds>=0) unless StoreReportsUnannounced. AT+CNMA=2
// (PDU mode) refuses it: the network delivers it again after
// Config.RetryDelay, routing stays on. With AT+CSMS=0 nothing is
// acknowledged (AT+CNMA: +CMS ERROR: 340): the modem acknowledged it.
//
// Storage is real: SM, ME (and SR on EC25/SIM7600) with Config.StorageCapacity
// slots each. EC25 numbers slots from 0, the others from 1. Inbound SMS
// follow AT+CNMI: mt=1 stores in <mem3> and announces +CMTI, mt=2 routes
// +CMT (PDU on the next line), ds=1 routes +CDS, ds=2 stores the report and
// announces +CDSI. EC25 quirk: reports are stored in "SR" but announced as
// +CDSI: "SM",<index>. A modem that cannot take a message (hung,
// deregistered, SIM locked, storage full, rebooting, or port closed for
// routed delivery) leaves it with the network, which delivers it as soon
// as it can (e.g. after AT+CMGD frees a slot). Unsolicited lines are
// dropped while no one has the port open, like a USB modem's.
//
// Firmware variants seen on real modems: Config.CNMIDS limits the <ds>
// values AT+CNMI takes (others: +CMS ERROR: 303; the SIM800 model takes
// only 0 and 1 unless CNMIDS says otherwise, as a real SIM800L does, and
// the SIM7600 model powers on with AT+CMEE=2), StoreReportsUnannounced
// stores reports with <ds>=0 without announcing them, UnlistedSR leaves
// "SR" out of AT+CPMS=? while storing and announcing reports there.
// Modem.SilentReset restarts the firmware behind the open port (settings
// back to power-on values, a PIN asked for again), optionally printing the
// model's start-up lines.
//
// Status reports carry the MR the modem answered in +CMGS and the
// recipient; Fault.ReportStatus makes them report a failure (TP-ST).
// Sent lists every accepted part, reassembled per message, and shows parts
// sent twice as Duplicates.
//
// # MMS
//
// Network.StartMMSC runs a fake MMS centre on loopback (MM1: HTTP POST of
// an OMA-MMS-ENC m-send-req, m-send-conf back; size limit; failure modes)
// and Network.DeliverMMS hands an MMS to a simulated SIM as a WAP push SMS.
// EC25 speaks Quectel's MMS commands (send only: AT+QMMSCFG, AT+QFUPL,
// AT+QMMSEDIT, AT+QMMSEND), SIM7600 and SIM800 SIMCom's (AT+CMMSCURL,
// AT+CMMSPROTO, AT+CMMSEDIT, AT+CMMSDOWN, AT+CMMSRECP, AT+CMMSSEND,
// AT+CMMSRECV, AT+CMMSVIEW, AT+CMMSREAD); the E3372 has none (mms.go,
// docs/mms.md).
//
// # Control API
//
// Network.Handler serves JSON over HTTP (cmd/modemsim serves it on
// loopback):
//
//	GET  /modems                 list: identity, number, path, state, attached, storage use, pending, fault
//	POST /modems                 plug in a modem: {"model":"SIM800","number":"+4915112345678","pin":"1234","send_latency":"300ms"} (201, its status)
//	DELETE /modems/{imei}        unplug it for good (204)
//	GET  /modems/{imei}          one modem's status
//	POST /modems/{imei}/inject   InboundSMS JSON, e.g. {"from":"+4917012345","text":"Hallo","parts":3,"order":[2,0,1],"ucs2":true}
//	                             ("order":[0],"ref":7 then "order":[1,2],"ref":7 delivers one message in two goes)
//	GET  /modems/{imei}/sent     sent messages, decoded and reassembled, with per-part MR/ref/seq/encoding/SRR
//	GET  /modems/{imei}/stored   messages in the modem's memories (memory, index, status, decoded text or report)
//	GET  /modems/{imei}/fault    current Fault
//	PUT  /modems/{imei}/fault    replace the Fault, e.g. {"cms_errors":{"38":0.2},"hang":true,"hang_mode":"reopen","report_status":70}
//	                             ("no_prompt":true: AT+CMGS never prompts; "hang_after_pdu":true: the next SMS goes out, then the modem hangs)
//	POST /modems/{imei}/reboot   {"down":"2s"}: the port vanishes for that long (default 1s)
//	POST /modems/{imei}/reset    {"announce":false}: firmware restart behind the open port, settings back to power-on values (SilentReset)
//	GET  /mmsc/received          the MMSC's accepted m-send-req: [{"message_id","size","raw" (the PDU, base64),"at"}] (404 without an MMSC)
//	PUT  /mmsc/failure           {"mode":"status"}: every submission fails (m-send-conf transient error; "http": 503; "": works again)
//
// States: online, deregistered, no-sim, pin-required, puk-required,
// sim-blocked, hung, rebooting, closed. Errors come back as
// {"error": "..."} with 400 (bad JSON), 404 (unknown IMEI) or 422 (valid
// JSON, unusable values).
package modemsim
