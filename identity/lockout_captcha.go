package identity

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/dchest/captcha"

	"github.com/havencrm/haven/apperr"
)

// Image CAPTCHA challenges. A challenge's ID is 256 random bits the
// client receives once; the database keeps only
//   - id_hash = SHA-256("haven-captcha-id", id), to find the row,
//   - answer_hash = SHA-256("haven-captcha-answer", id, answer), to check
//     an answer in constant time,
//   - the digits sealed with AES-GCM under SHA-256("haven-captcha-seal", id),
//     so that any instance can draw the image for whoever holds the ID,
//
// plus its expiry and when it was used. A challenge answers once: checking
// an answer uses it up, right or wrong, and of concurrent checks only one
// gets it. Rows stay small (no image is stored), so a flood of
// captcha_required answers cannot fill the database.

const (
	// CaptchaDigits is how many digits a challenge shows.
	CaptchaDigits = 6
	// CaptchaTTL is how long a challenge can be answered.
	CaptchaTTL = 5 * time.Minute
	// CaptchaWidth and CaptchaHeight are the image's size in pixels.
	CaptchaWidth  = 240
	CaptchaHeight = 80

	captchaIDLen = 43 // base64url of 32 bytes
)

// CaptchaChallenge is a stored challenge.
type CaptchaChallenge struct {
	IDHash     []byte
	AnswerHash []byte
	Sealed     []byte // nonce || AES-GCM(digits)
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     *time.Time
}

func captchaHash(label string, parts ...string) []byte {
	h := sha256.New()
	h.Write([]byte(label))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// CaptchaIDHash is the key a challenge is stored under.
func CaptchaIDHash(id string) []byte { return captchaHash("haven-captcha-id", id) }

func captchaAEAD(id string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(captchaHash("haven-captcha-seal", id))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// validCaptchaID reports whether id has the shape of a challenge ID.
func validCaptchaID(id string) bool {
	if len(id) != captchaIDLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// NormalizeCaptchaAnswer drops white space and turns full-width digits
// (as Chinese input methods type them) into ASCII, so answers compare
// regardless of spacing and case.
func NormalizeCaptchaAnswer(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToLower(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return -1
		case r >= '０' && r <= '９':
			return '0' + (r - '０')
		}
		return r
	}, s))
}

// newCaptcha creates a challenge and returns its ID.
func (s *Service) newCaptcha(ctx context.Context, now time.Time) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", apperr.Internal(fmt.Errorf("read random: %w", err))
	}
	id := base64.RawURLEncoding.EncodeToString(raw)
	digits := captcha.RandomDigits(CaptchaDigits)
	answer := make([]byte, len(digits))
	for i, d := range digits {
		answer[i] = '0' + d
	}
	aead, err := captchaAEAD(id)
	if err != nil {
		return "", apperr.Internal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", apperr.Internal(fmt.Errorf("read random: %w", err))
	}
	c := CaptchaChallenge{
		IDHash:     CaptchaIDHash(id),
		AnswerHash: captchaHash("haven-captcha-answer", id, string(answer)),
		Sealed:     aead.Seal(nonce, nonce, answer, nil),
		CreatedAt:  now,
		ExpiresAt:  now.Add(CaptchaTTL),
	}
	if err := s.store.InsertCaptcha(ctx, c); err != nil {
		return "", err
	}
	return id, nil
}

// useCaptcha uses up the challenge id and reports whether answer solves
// it. Unknown, used and expired challenges never do.
func (s *Service) useCaptcha(ctx context.Context, id, answer string, now time.Time) (bool, error) {
	if !validCaptchaID(id) {
		return false, nil
	}
	c, err := s.store.UseCaptcha(ctx, CaptchaIDHash(id), now)
	if apperr.Is(err, apperr.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	got := captchaHash("haven-captcha-answer", id, NormalizeCaptchaAnswer(answer))
	return subtle.ConstantTimeCompare(got, c.AnswerHash) == 1, nil
}

// OpenCaptcha returns the answer of challenge c, which only the holder of
// its ID can do: the image shows the same to anyone who has the ID.
func OpenCaptcha(id string, c CaptchaChallenge) (string, error) {
	aead, err := captchaAEAD(id)
	if err != nil {
		return "", err
	}
	n := aead.NonceSize()
	if len(c.Sealed) < n {
		return "", errors.New("captcha: sealed answer too short")
	}
	answer, err := aead.Open(nil, c.Sealed[:n], c.Sealed[n:], nil)
	if err != nil {
		return "", fmt.Errorf("captcha: open answer: %w", err)
	}
	return string(answer), nil
}

// CaptchaImage draws the PNG of a challenge that can still be answered;
// any other ID answers not_found.
func (s *Service) CaptchaImage(ctx context.Context, id string) ([]byte, error) {
	if !validCaptchaID(id) {
		return nil, apperr.NotFound("captcha")
	}
	c, err := s.store.Captcha(ctx, CaptchaIDHash(id), s.now().UTC())
	if err != nil {
		return nil, err
	}
	answer, err := OpenCaptcha(id, c)
	if err != nil {
		return nil, apperr.Internal(err)
	}
	digits := make([]byte, len(answer))
	for i := range answer {
		digits[i] = answer[i] - '0'
		if digits[i] > 9 {
			return nil, apperr.Internal(errors.New("captcha: answer is not digits"))
		}
	}
	var buf bytes.Buffer
	if _, err := captcha.NewImage(id, digits, CaptchaWidth, CaptchaHeight).WriteTo(&buf); err != nil {
		return nil, apperr.Internal(err)
	}
	return buf.Bytes(), nil
}
