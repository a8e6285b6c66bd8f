package screens

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/gin-gonic/gin"
)

// confirmField is the form field a destructive portal action needs set to
// "yes": the delete buttons ask with a JavaScript dialog and set it; without
// JavaScript the POST without it answers with a confirmation page whose
// form (a required checkbox) posts the same fields again with it.
const confirmField = "confirm"

// confirmData is the confirmation page's model.
type confirmData struct {
	Question string
	Action   string
	Fields   []confirmHidden
	Back     string
}

type confirmHidden struct{ Name, Value string }

// RequireConfirm lets a destructive POST through only when the form says
// confirm=yes; otherwise it shows the confirmation page. question is the
// catalog key of the question; param, when set, names the route parameter
// it quotes (the phonebook, user, rule …).
func (s *Screens) RequireConfirm(question, param string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.PostForm(confirmField) == "yes" {
			c.Next()
			return
		}
		v := s.NewView(c, "", "confirm.title", nil)
		var args []any
		if param != "" {
			args = append(args, c.Param(param))
		}
		d := confirmData{Question: v.T(question, args...), Action: c.Request.URL.Path, Back: sameSiteBack(c)}
		if err := c.Request.ParseForm(); err == nil {
			keys := make([]string, 0, len(c.Request.PostForm))
			for k := range c.Request.PostForm {
				if k != "csrf_token" && k != confirmField {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				for _, val := range c.Request.PostForm[k] {
					d.Fields = append(d.Fields, confirmHidden{k, val})
				}
			}
		}
		v.Data = d
		s.Render(c, http.StatusOK, "confirm", v)
		c.Abort()
	}
}

// sameSiteBack is the page the request came from when it is this portal's,
// else the dashboard.
func sameSiteBack(c *gin.Context) string {
	if u, err := url.Parse(c.Request.Referer()); err == nil && u.Host == c.Request.Host && u.Path != "" && u.Path != c.Request.URL.Path {
		return u.RequestURI()
	}
	return "/"
}
