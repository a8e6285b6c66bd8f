package mms

import (
	"fmt"
	"strings"
)

// Compose builds the m-send-req a handset (or a modem's MMS stack) sends:
// multipart/related with a SMIL presentation, the text as text/plain and
// each file as its own part.
func Compose(tid, from string, to []string, subject, text string, files []Part) Message {
	var parts []Part
	var body strings.Builder
	body.WriteString(`<smil><head><layout><root-layout/><region id="Image" top="0" left="0" height="80%" width="100%"/><region id="Text" top="80%" left="0" height="20%" width="100%"/></layout></head><body><par dur="5000ms">`)
	for i, f := range files {
		if f.ContentID == "" {
			f.ContentID = fmt.Sprintf("part%d", i+1)
		}
		tag := "ref"
		switch {
		case strings.HasPrefix(f.ContentType, "image/"):
			tag = "img"
		case strings.HasPrefix(f.ContentType, "audio/"):
			tag = "audio"
		case strings.HasPrefix(f.ContentType, "video/"):
			tag = "video"
		}
		fmt.Fprintf(&body, `<%s src="%s" region="Image"/>`, tag, f.Name)
		parts = append(parts, f)
	}
	if text != "" {
		body.WriteString(`<text src="text.txt" region="Text"/>`)
		parts = append(parts, Part{ContentType: "text/plain", Name: "text.txt", ContentID: "text", Data: []byte(text)})
	}
	body.WriteString(`</par></body></smil>`)
	smil := Part{ContentType: "application/smil", Name: "smil.xml", ContentID: "smil", Data: []byte(body.String())}
	return Message{
		Type: TypeSendReq, TransactionID: tid, Version: 0x12, From: from, To: to, Subject: subject,
		ContentType: "application/vnd.wap.multipart.related", Start: "smil",
		Parts: append([]Part{smil}, parts...),
	}
}

// Text returns the text/plain parts joined.
func (m Message) Text() string {
	var out []string
	for _, p := range m.Parts {
		if strings.HasPrefix(p.ContentType, "text/plain") {
			out = append(out, string(p.Data))
		}
	}
	return strings.Join(out, "\n")
}

// Media returns the parts that are neither SMIL nor plain text.
func (m Message) Media() []Part {
	var out []Part
	for _, p := range m.Parts {
		if p.ContentType == "application/smil" || strings.HasPrefix(p.ContentType, "text/plain") {
			continue
		}
		out = append(out, p)
	}
	return out
}
