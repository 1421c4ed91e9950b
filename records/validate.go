package records

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/tenant"
)

const (
	defaultTextMax     = 255
	textareaMax        = 32000
	maxNumberMagnitude = 1e15
)

var phonePattern = regexp.MustCompile(`^\+?[0-9(][0-9 ()\-]{3,30}[0-9]$`)

// decodeValue validates one raw JSON value against a field and returns
// its canonical stored form; nil means "clear the field".
func decodeValue(fl Field, raw json.RawMessage) (any, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, ""
	}
	switch fl.Type {
	case TypeText, TypeTextarea, TypeEmail, TypePhone, TypeURL, TypePicklist, TypeDate, TypeDatetime, TypeLookup:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "must be a string"
		}
		return checkString(fl, s)
	case TypeNumber, TypeCurrency:
		// Decode into any: decoding into json.Number would also accept a
		// JSON string holding a number ("12").
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, "must be a number"
		}
		n, ok := v.(json.Number)
		if !ok {
			return nil, "must be a number"
		}
		return checkNumber(fl, n.String())
	case TypeBoolean:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, "must be true or false"
		}
		return b, ""
	}
	return nil, "unsupported field type"
}

// FormInput converts a value typed in a web form into the JSON the
// records service takes (nil for an empty optional value), or a message
// saying what is wrong with it, required fields included. Both web UIs use
// it, so a form means the same in either.
func FormInput(fl Field, s string) (json.RawMessage, string) {
	v, msg := ParseFormValue(fl, s)
	if msg == "" && v == nil && fl.Required {
		msg = "is required"
	}
	if msg != "" {
		return nil, msg
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, "must be a string"
	}
	return raw, ""
}

// ParseFormValue converts a value typed in a web form into the same
// canonical form decodeValue produces.
func ParseFormValue(fl Field, s string) (any, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		if fl.Type == TypeBoolean {
			return false, ""
		}
		return nil, ""
	}
	switch fl.Type {
	case TypeNumber, TypeCurrency:
		return checkNumber(fl, strings.ReplaceAll(s, ",", ""))
	case TypeBoolean:
		switch s {
		case "true", "on", "1":
			return true, ""
		case "false", "off", "0":
			return false, ""
		}
		return nil, "must be true or false"
	case TypeDatetime:
		// HTML datetime-local inputs send "2006-01-02T15:04" without a zone.
		if t, err := time.Parse("2006-01-02T15:04", s); err == nil {
			return t.UTC().Format(time.RFC3339), ""
		}
	}
	return checkString(fl, s)
}

func checkNumber(fl Field, s string) (any, string) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, "must be a number"
	}
	if math.Abs(v) >= maxNumberMagnitude {
		return nil, "is too large"
	}
	if fl.Type == TypeCurrency {
		// Exact decimal arithmetic, so that 1e-3 cannot slip past a look
		// at the digits after the point.
		r, ok := new(big.Rat).SetString(s)
		if !ok || !r.Mul(r, big.NewRat(100, 1)).IsInt() {
			return nil, "must have at most two decimal places"
		}
	}
	return v, ""
}

func checkString(fl Field, s string) (any, string) {
	if !utf8.ValidString(s) {
		return nil, "must be valid UTF-8"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }) {
		return nil, "must not contain control characters"
	}
	max := fl.MaxLength
	if max <= 0 {
		max = defaultTextMax
		if fl.Type == TypeTextarea {
			max = textareaMax
		}
	}
	if fl.Type != TypeTextarea && strings.ContainsAny(s, "\n\r") {
		return nil, "must be a single line"
	}
	if utf8.RuneCountInString(s) > max {
		return nil, fmt.Sprintf("must be at most %d characters", max)
	}
	if fl.Type != TypeTextarea {
		s = strings.TrimSpace(s)
	}
	if s == "" {
		return nil, ""
	}
	switch fl.Type {
	case TypeEmail:
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s || len(s) > 254 {
			return nil, "must be an e-mail address like name@example.com"
		}
	case TypePhone:
		if !phonePattern.MatchString(s) {
			return nil, "must be a phone number (digits, spaces, dashes, an optional leading +)"
		}
	case TypeURL:
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, "must be an http or https address"
		}
	case TypePicklist:
		if !slices.Contains(fl.Options, s) {
			return nil, "must be one of: " + strings.Join(fl.Options, ", ")
		}
	case TypeDate:
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, "must be a date like 2026-01-31"
		}
	case TypeDatetime:
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return nil, "must be a date and time like 2026-01-31T09:30:00+08:00"
		}
		s = t.UTC().Format(time.RFC3339)
	case TypeLookup:
		if !tenant.ValidID(s) {
			return nil, "must be the id of a " + fl.LookupObject
		}
	}
	return s, ""
}
