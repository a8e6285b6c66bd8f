package recipients

import "github.com/pbxgate/pbxgate/gateway/message"

// Reason codes of rejected numbers and import rows (translated by the
// portal as "reason.<code>"). Every English text below keeps its wording.
var (
	rNumberEmpty      = message.NewCode("number.empty", 0)
	rNumberLetters    = message.NewCode("number.letters", 2)         // input, letter
	rNumberNotNumber  = message.NewCode("number.not_number", 1)      // input
	rNumberTooShort   = message.NewCode("number.too_short", 1)       // input
	rNumberTooLong    = message.NewCode("number.too_long", 1)        // input
	rNumberNoRegion   = message.NewCode("number.no_region", 1)       // input
	rNumberCountry    = message.NewCode("number.unknown_country", 1) // input
	rNumberLength     = message.NewCode("number.wrong_length", 1)    // input
	rNumberRegion     = message.NewCode("number.invalid_region", 2)  // input, ISO region
	rNumberCC         = message.NewCode("number.invalid_cc", 2)      // input, country calling code
	rCSVBareQuote     = message.NewCode("csv.bare_quote", 0)
	rCSVOpenQuote     = message.NewCode("csv.open_quote", 0)
	rCSVOther         = message.NewCode("csv.unreadable", 1) // parser's text
	rCSVNoNumber      = message.NewCode("csv.no_number", 1)  // phone column names
	rCSVNoValidNumber = message.NewCode("csv.no_valid_number", 0)
	rVCardNoNumber    = message.NewCode("vcard.no_number", 0)
)

// numberErr is an invalid-number error: the English text as before, with r.
func numberErr(err error, r message.Reason) error { return message.WithReason(err, r) }
