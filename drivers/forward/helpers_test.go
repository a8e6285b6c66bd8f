package forward

import (
	"io"
	"mime/quotedprintable"
)

func quotedprintableReader(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }
