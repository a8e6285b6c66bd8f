package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/i18n"
)

// inputProblem is a validation problem found by logic a portal handler and
// its API twin share: the portal shows Key (a catalog key) at its form
// field, the API answers Code with Key's English text and names Field.
type inputProblem struct {
	Field string // the API's field name ("name", "file", "timezone" …)
	Code  string // machine-readable ("invalid", "required" …)
	Key   string // catalog key
	Args  []any  // Key's arguments
}

func (p *inputProblem) Error() string { return p.Field + ": " + p.Code }

func problem(field, code, key string, args ...any) *inputProblem {
	return &inputProblem{Field: field, Code: code, Key: key, Args: args}
}

// apiProblem answers p as a 422 in the API's one error shape.
func (s *server) apiProblem(c *gin.Context, p *inputProblem) {
	apiError(c, http.StatusUnprocessableEntity, p.Code, s.cat.T(i18n.EN, p.Key, p.Args...), p.Field)
}

// pageOf is one page of an in-memory list in the list envelope.
func pageOf[T any](list []T, offset, limit int) page[T] {
	items := list[min(offset, len(list)):min(offset+limit, len(list))]
	return page[T]{Items: nonNil(items), Total: len(list), Offset: offset, Limit: limit}
}

// apiPage answers one page of list, paged by ?offset= and ?limit=.
func apiPage[T any](c *gin.Context, list []T) {
	offset, limit, ok := pagination(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, pageOf(list, offset, limit))
}

// bindJSON reads a JSON body into v (at most 1 MB); false: it answered.
func bindJSON(c *gin.Context, v any, shape string) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	if err := c.ShouldBindJSON(v); err != nil {
		if bodyTooLarge(c, err) {
			return false
		}
		apiError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON ("+shape+"): "+err.Error(), "")
		return false
	}
	return true
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
