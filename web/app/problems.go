package app

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/i18n"
)

// InputProblem is a validation problem found by logic a portal handler and
// its API twin share: the portal shows Key (a catalog key) at its form
// field, the API answers Code with Key's English text and names Field.
type InputProblem struct {
	Field string // the API's field name ("name", "file", "timezone" …)
	Code  string // machine-readable ("invalid", "required" …)
	Key   string // catalog key
	Args  []any  // Key's arguments
}

func (p *InputProblem) Error() string { return p.Field + ": " + p.Code }

func Problem(field, code, key string, args ...any) *InputProblem {
	return &InputProblem{Field: field, Code: code, Key: key, Args: args}
}

// APIProblem answers p as a 422 in the API's one error shape.
func (s *Server) APIProblem(c *gin.Context, p *InputProblem) {
	APIError(c, http.StatusUnprocessableEntity, p.Code, s.Cat.T(i18n.EN, p.Key, p.Args...), p.Field)
}

// PageOf is one page of an in-memory list in the list envelope.
func PageOf[T any](list []T, offset, limit int) Page[T] {
	items := list[min(offset, len(list)):min(offset+limit, len(list))]
	return Page[T]{Items: NonNil(items), Total: len(list), Offset: offset, Limit: limit}
}

// APIPage answers one page of list, paged by ?offset= and ?limit=.
func APIPage[T any](c *gin.Context, list []T) {
	offset, limit, ok := Pagination(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, PageOf(list, offset, limit))
}

// BindJSON reads a JSON body into v (at most 1 MB); false: it answered.
func BindJSON(c *gin.Context, v any, shape string) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	if err := c.ShouldBindJSON(v); err != nil {
		if BodyTooLarge(c, err) {
			return false
		}
		APIError(c, http.StatusBadRequest, "bad_json", "request body is not valid JSON ("+shape+"): "+err.Error(), "")
		return false
	}
	return true
}

func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

const maxAPILimit = 500

// Page is the envelope of every list answer.
type Page[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

func Pagination(c *gin.Context) (offset, limit int, ok bool) {
	offset, limit = 0, 50
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			APIError(c, http.StatusBadRequest, "invalid", "offset must be a number >= 0", "offset")
			return 0, 0, false
		}
		offset = n
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAPILimit {
			APIError(c, http.StatusBadRequest, "invalid", "limit must be between 1 and 500", "limit")
			return 0, 0, false
		}
		limit = n
	}
	return offset, limit, true
}
