package consent

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
)

// defaultStopWords are the opt-out keywords recognised out of the box
// (German, English, Russian, French, Spanish, Italian, Dutch, Polish,
// Turkish), matched as the whole message after normalisation.
var defaultStopWords = []string{
	"STOP", "STOPP", "HALT", "ABMELDEN", "AUSTRAGEN", "ABBESTELLEN", "KÜNDIGEN",
	"UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOPALL", "OPTOUT", "OPT OUT",
	"СТОП", "ОТПИСАТЬСЯ", "ОТПИСКА", "СТОП ВСЕ",
	"ARRET", "ARRÊT", "DESABONNER", "DÉSABONNER",
	"BAJA", "ALTO", "CANCELAR",
	"BASTA", "DISISCRIVI",
	"AFMELDEN", "UITSCHRIJVEN",
	"WYPISZ", "REZYGNUJĘ",
	"DUR", "IPTAL", "İPTAL",
}

// defaultStartWords opt a contact back in.
var defaultStartWords = []string{
	"START", "ANMELDEN", "UNSTOP", "SUBSCRIBE",
	"СТАРТ", "ПОДПИСАТЬСЯ",
	"INSCRIRE", "ALTA", "ISCRIVI", "AANMELDEN", "ZAPISZ",
}

// DefaultStopWords returns a copy of the built-in opt-out keywords.
func DefaultStopWords() []string { return append([]string(nil), defaultStopWords...) }

// DefaultStartWords returns a copy of the built-in opt-in keywords.
func DefaultStartWords() []string { return append([]string(nil), defaultStartWords...) }

// Normalize folds text for keyword comparison: Unicode case folding,
// surrounding punctuation dropped ("Stop!" is STOP) and runs of white space
// collapsed to one space, so what a phone keyboard produces still matches.
func Normalize(text string) string {
	f := cases.Fold().String(text)
	f = strings.TrimFunc(f, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	})
	return strings.Join(strings.Fields(f), " ")
}

// wordSet is an immutable set of normalised keywords.
type wordSet map[string]struct{}

func newWordSet(words []string) wordSet {
	s := make(wordSet, len(words))
	for _, w := range words {
		if n := Normalize(w); n != "" {
			s[n] = struct{}{}
		}
	}
	return s
}

func (s wordSet) has(text string) bool {
	_, ok := s[Normalize(text)]
	return ok
}
