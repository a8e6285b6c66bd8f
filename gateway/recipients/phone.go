// Package recipients turns what an administrator types, pastes or uploads
// (numbers, CSV files, vCards) into normalised E.164 recipients with
// variables, and keeps pbxgate's own do-not-contact lists and phonebooks.
//
// Every input line is accounted for: a number is either valid, invalid (with
// the line and the reason) or a counted duplicate. Nothing is dropped
// silently.
package recipients

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidNumber is wrapped by every number rejection.
var ErrInvalidNumber = errors.New("invalid phone number")

// Normalize returns number in E.164 form ("+4930123456"). National numbers
// ("030 123456", "0171 1234567") are read in region (ISO 3166, e.g. "DE");
// "00" international prefixes are accepted. The error names the number and
// says why it was rejected.
func Normalize(number, region string) (string, error) {
	raw := strings.TrimSpace(number)
	if raw == "" {
		return "", numberErr(fmt.Errorf("%w: empty", ErrInvalidNumber), rNumberEmpty.R())
	}
	digits := 0
	for _, r := range raw {
		if unicode.IsDigit(r) {
			digits++
		} else if unicode.IsLetter(r) {
			return "", numberErr(fmt.Errorf("%w: %q is not a number (contains %q)", ErrInvalidNumber, raw, r), rNumberLetters.R(raw, string(r)))
		}
	}
	if digits == 0 {
		return "", numberErr(fmt.Errorf("%w: %q is not a number", ErrInvalidNumber, raw), rNumberNotNumber.R(raw))
	}
	if digits < 5 {
		return "", numberErr(fmt.Errorf("%w: %q is too short", ErrInvalidNumber, raw), rNumberTooShort.R(raw))
	}
	region = strings.ToUpper(region)
	num, err := phonenumbers.Parse(raw, region)
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			if !strings.HasPrefix(raw, "+") && !strings.HasPrefix(raw, "00") {
				return "", numberErr(fmt.Errorf("%w: %q is a national number and no default region is set (configure region.default_country or write it as +<country code>…)", ErrInvalidNumber, raw), rNumberNoRegion.R(raw))
			}
			return "", numberErr(fmt.Errorf("%w: %q has an unknown country code", ErrInvalidNumber, raw), rNumberCountry.R(raw))
		case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return "", numberErr(fmt.Errorf("%w: %q is too short", ErrInvalidNumber, raw), rNumberTooShort.R(raw))
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return "", numberErr(fmt.Errorf("%w: %q is too long", ErrInvalidNumber, raw), rNumberTooLong.R(raw))
		default:
			return "", numberErr(fmt.Errorf("%w: %q is not a number", ErrInvalidNumber, raw), rNumberNotNumber.R(raw))
		}
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.TOO_SHORT:
		return "", numberErr(fmt.Errorf("%w: %q is too short", ErrInvalidNumber, raw), rNumberTooShort.R(raw))
	case phonenumbers.TOO_LONG:
		return "", numberErr(fmt.Errorf("%w: %q is too long", ErrInvalidNumber, raw), rNumberTooLong.R(raw))
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", numberErr(fmt.Errorf("%w: %q has an unknown country code", ErrInvalidNumber, raw), rNumberCountry.R(raw))
	case phonenumbers.INVALID_LENGTH, phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", numberErr(fmt.Errorf("%w: %q has the wrong number of digits", ErrInvalidNumber, raw), rNumberLength.R(raw))
	}
	if !phonenumbers.IsValidNumber(num) {
		r := phonenumbers.GetRegionCodeForNumber(num)
		code := rNumberRegion.R(raw, r)
		if r == "" || r == "ZZ" {
			r = fmt.Sprintf("country code +%d", num.GetCountryCode())
			code = rNumberCC.R(raw, fmt.Sprintf("+%d", num.GetCountryCode()))
		}
		return "", numberErr(fmt.Errorf("%w: %q is not a valid number for %s", ErrInvalidNumber, raw, r), code)
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	// libphonenumber's German metadata accepts up to 16 digits; an
	// international number has at most 15 (ITU-T E.164 §6.1), and the SIP
	// side refuses longer ones (found by FuzzCSVImport).
	if len(e164)-1 > 15 {
		return "", numberErr(fmt.Errorf("%w: %q is too long", ErrInvalidNumber, raw), rNumberTooLong.R(raw))
	}
	return e164, nil
}
