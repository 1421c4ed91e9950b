package identity

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/tenant"
)

// API token scopes.
const (
	// ScopeRead allows only reading (GET).
	ScopeRead = "read"
	// ScopeWrite allows everything the owner's role allows, except
	// managing tokens and passwords, which always need a signed-in session.
	ScopeWrite = "write"
)

// Audit actions of API tokens.
const (
	ActionTokenCreated = "token.create"
	ActionTokenRevoked = "token.revoke"
)

// MaxTokenDays bounds an API token's lifetime: every token expires.
const MaxTokenDays = 366

// apiTokenPrefix marks Haven API tokens so secret scanners find leaked ones.
const apiTokenPrefix = "hvt_"

// APIToken is a long-lived credential of one visible user, for
// integrations; only its hash is stored.
type APIToken struct {
	ID         string
	UserID     string
	Name       string
	TokenHash  []byte
	Scope      string
	CreatedAt  time.Time
	CreatedBy  string
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Live reports whether the token can still authenticate at now.
func (t APIToken) Live(now time.Time) bool { return t.RevokedAt == nil && now.Before(t.ExpiresAt) }

// TokenStore persists API tokens.
type TokenStore interface {
	InsertAPIToken(ctx context.Context, tenantID tenant.ID, t APIToken) error
	APITokenByHash(ctx context.Context, tenantID tenant.ID, hash []byte) (APIToken, error)
	APIToken(ctx context.Context, tenantID tenant.ID, id string) (APIToken, error)
	UserAPITokens(ctx context.Context, tenantID tenant.ID, userID string) ([]APIToken, error)
	LiveAPITokens(ctx context.Context, tenantID tenant.ID, now time.Time) ([]APIToken, error)
	RevokeAPIToken(ctx context.Context, tenantID tenant.ID, id string, at time.Time) error
	TouchAPIToken(ctx context.Context, tenantID tenant.ID, id string, at time.Time) error
}

// NewToken is a token just created; Secret is shown once.
type NewToken struct {
	Token  APIToken
	Secret string
}

// TokenInput describes a token to create.
type TokenInput struct {
	Name    string
	Scope   string
	Days    int
	ForUser string
}

// sessionOnly refuses credential management through an API token, so a
// leaked token cannot mint more tokens.
func sessionOnly(actor tenant.Actor) error {
	if actor.TokenID != "" {
		return apperr.Forbidden().WithDetail("reason", "API tokens cannot manage tokens; sign in")
	}
	return nil
}

// CreateToken makes an API token for a user: your own, or any active
// user's as an admin (e.g. an integration user). The secret is returned once.
func (s *Service) CreateToken(ctx context.Context, actor tenant.Actor, in TokenInput) (NewToken, error) {
	if err := sessionOnly(actor); err != nil {
		return NewToken{}, err
	}
	if in.ForUser == "" {
		in.ForUser = actor.UserID
	}
	if in.ForUser != actor.UserID && !access.CanManageUsers(actor) {
		return NewToken{}, apperr.NotFound("user")
	}
	in.Name = strings.TrimSpace(in.Name)
	bad := map[string]string{}
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 80 || strings.ContainsFunc(in.Name, unicode.IsControl) {
		bad["name"] = "required, at most 80 characters, no control characters"
	}
	if in.Scope != ScopeRead && in.Scope != ScopeWrite {
		bad["scope"] = "must be read or write"
	}
	if in.Days < 1 || in.Days > MaxTokenDays {
		bad["expires_in_days"] = fmt.Sprintf("must be between 1 and %d: every token expires", MaxTokenDays)
	}
	if len(bad) > 0 {
		return NewToken{}, apperr.InvalidFields(bad)
	}
	secret, hash, err := newToken(apiTokenPrefix, actor.TenantID)
	if err != nil {
		return NewToken{}, apperr.Internal(err)
	}
	now := s.now().UTC()
	tok := APIToken{ID: tenant.NewID(), UserID: in.ForUser, Name: in.Name, TokenHash: hash, Scope: in.Scope,
		CreatedAt: now, CreatedBy: actor.UserID, ExpiresAt: now.Add(time.Duration(in.Days) * 24 * time.Hour)}
	err = s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		u, err := s.lookup(ctx, actor.TenantID, in.ForUser)
		if err != nil {
			return err
		}
		if u.Status != StatusActive {
			return apperr.Conflict("the user is deactivated")
		}
		if err := s.store.InsertAPIToken(ctx, actor.TenantID, tok); err != nil {
			return err
		}
		ev := audit.New(actor, now, ActionTokenCreated, "api_token", tok.ID, tok.Name)
		ev.Changes = map[string]audit.Change{"user_id": {After: tok.UserID}, "scope": {After: tok.Scope},
			"expires_at": {After: tok.ExpiresAt.Format(time.RFC3339)}}
		return s.store.AppendAudit(ctx, ev)
	})
	if err != nil {
		return NewToken{}, err
	}
	return NewToken{Token: tok, Secret: secret}, nil
}

// Tokens lists a user's tokens (your own, or anyone's as an admin),
// revoked and expired ones included so the trail stays visible.
func (s *Service) Tokens(ctx context.Context, actor tenant.Actor, userID string) ([]APIToken, error) {
	if userID != actor.UserID && !access.CanManageUsers(actor) {
		return nil, apperr.NotFound("user")
	}
	if _, err := s.lookup(ctx, actor.TenantID, userID); err != nil {
		return nil, err
	}
	return s.store.UserAPITokens(ctx, actor.TenantID, userID)
}

// LiveTokensByUser returns every API token of the tenant that can still
// authenticate, by user, for those who may see the user directory.
func (s *Service) LiveTokensByUser(ctx context.Context, actor tenant.Actor) (map[string][]APIToken, error) {
	if !access.CanListUsers(actor) {
		return nil, apperr.Forbidden()
	}
	toks, err := s.store.LiveAPITokens(ctx, actor.TenantID, s.now().UTC())
	if err != nil {
		return nil, err
	}
	out := map[string][]APIToken{}
	for _, t := range toks {
		out[t.UserID] = append(out[t.UserID], t)
	}
	return out, nil
}

// RevokeToken ends a token at once: your own, or anyone's as an admin.
func (s *Service) RevokeToken(ctx context.Context, actor tenant.Actor, id string) error {
	if err := sessionOnly(actor); err != nil {
		return err
	}
	if !tenant.ValidID(id) {
		return apperr.NotFound("token")
	}
	now := s.now().UTC()
	return s.store.WriteTx(ctx, actor.TenantID, func(ctx context.Context) error {
		tok, err := s.store.APIToken(ctx, actor.TenantID, id)
		if err != nil {
			return err
		}
		if tok.UserID != actor.UserID && !access.CanManageUsers(actor) {
			return apperr.NotFound("token")
		}
		if tok.RevokedAt != nil {
			return nil
		}
		if err := s.store.RevokeAPIToken(ctx, actor.TenantID, id, now); err != nil {
			return err
		}
		ev := audit.New(actor, now, ActionTokenRevoked, "api_token", tok.ID, tok.Name)
		ev.Changes = map[string]audit.Change{"user_id": {Before: tok.UserID}}
		return s.store.AppendAudit(ctx, ev)
	})
}

// AuthenticateBearer resolves an API credential: a session token or an
// API token. The web UI uses Authenticate, which accepts sessions only, so
// an API token can never act as a browser session.
func (s *Service) AuthenticateBearer(ctx context.Context, token, ip, userAgent, requestID string) (Principal, error) {
	if strings.HasPrefix(token, apiTokenPrefix) {
		return s.authenticateAPIToken(ctx, token, ip, userAgent, requestID)
	}
	return s.Authenticate(ctx, token, ip, userAgent, requestID)
}

func (s *Service) authenticateAPIToken(ctx context.Context, token, ip, userAgent, requestID string) (Principal, error) {
	tid, hash, ok := parseToken(apiTokenPrefix, token)
	if !ok {
		return Principal{}, apperr.Unauthenticated()
	}
	now := s.now().UTC()
	var tok APIToken
	var u User
	var t tenant.Tenant
	err := s.store.ReadTx(ctx, tid, func(ctx context.Context) error {
		var err error
		if tok, err = s.store.APITokenByHash(ctx, tid, hash); err != nil {
			return err
		}
		if t, err = s.liveTenant(ctx, tid); err != nil {
			return err
		}
		u, err = s.store.User(ctx, tid, tok.UserID)
		return err
	})
	if err != nil {
		if apperr.Is(err, apperr.KindNotFound) {
			return Principal{}, apperr.Unauthenticated()
		}
		return Principal{}, err
	}
	// A deactivated owner's tokens stop with the owner.
	if !tok.Live(now) || u.Status != StatusActive {
		return Principal{}, apperr.Unauthenticated()
	}
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) >= touchInterval {
		if err := s.store.TouchAPIToken(ctx, tid, tok.ID, now); err != nil {
			return Principal{}, err
		}
	}
	return Principal{
		User:   u,
		Token:  tok,
		Tenant: t,
		Actor: tenant.Actor{Kind: tenant.ActorUser, TenantID: tid, UserID: u.ID, Name: u.Name, Role: u.Role,
			TokenID: tok.ID, IP: ip, UserAgent: truncate(userAgent, 512), RequestID: requestID},
	}, nil
}

// ReadOnly reports whether the principal may only read.
func (p Principal) ReadOnly() bool { return p.Token.ID != "" && p.Token.Scope != ScopeWrite }
