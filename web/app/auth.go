package app

func CmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
