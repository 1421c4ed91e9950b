package api

import (
	"encoding/json"
	"time"
)

// DTOs: the JSON shapes of the external contract. Domain structs are never
// serialized; handlers map them to these types.

// ErrorBody is the envelope of every error response.
type ErrorBody struct {
	Error ErrorDTO `json:"error"`
}

// ErrorDTO describes an error to the client.
type ErrorDTO struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Tenant        string `json:"tenant"`
	Login         string `json:"login"`
	Password      string `json:"password"`
	CaptchaID     string `json:"captcha_id,omitempty"`
	CaptchaAnswer string `json:"captcha_answer,omitempty"`
	TOTP          string `json:"totp,omitempty"`
}

// LoginResponse answers a successful login.
type LoginResponse struct {
	Token              string    `json:"token"`
	ExpiresAt          time.Time `json:"expires_at"`
	MustChangePassword bool      `json:"must_change_password"`
	// MustEnrollMFA: the tenant requires two-step sign-in and the user has
	// none yet; until they enrol, other calls answer 403 mfa_enrollment_required.
	MustEnrollMFA bool    `json:"must_enroll_mfa"`
	User          UserDTO `json:"user"`
}

// ChangePasswordRequest is the body of POST /api/v1/auth/password.
type ChangePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// UserDTO is a tenant user as clients see it.
type UserDTO struct {
	ID                 string     `json:"id"`
	Email              string     `json:"email,omitempty"`
	Phone              string     `json:"phone,omitempty"`
	Name               string     `json:"name"`
	Role               string     `json:"role"`
	Status             string     `json:"status"`
	MustChangePassword bool       `json:"must_change_password"`
	LastLoginAt        *time.Time `json:"last_login_at,omitempty"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	// APITokens lists the user's live API tokens in the users list, so
	// that every credential able to act in the tenant is visible there.
	APITokens []TokenSummaryDTO `json:"api_tokens,omitempty"`
}

// TokenSummaryDTO names a live API token in the users list.
type TokenSummaryDTO struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scope     string    `json:"scope"`
	ExpiresAt time.Time `json:"expires_at"`
}

// TenantDTO is the caller's tenant.
type TenantDTO struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// MeResponse answers GET /api/v1/me.
type MeResponse struct {
	User   UserDTO   `json:"user"`
	Tenant TenantDTO `json:"tenant"`
	// Permissions maps an object name to the allowed actions among
	// "read", "create", "edit", "delete", with the scope "own" or "all".
	Permissions map[string]ObjectPermissionDTO `json:"permissions"`
}

// ObjectPermissionDTO is what the caller may do with one object.
type ObjectPermissionDTO struct {
	Actions []string `json:"actions"`
	Scope   string   `json:"scope"`
}

// CreateUserRequest is the body of POST /api/v1/users. The new user gets a
// one-time password that must be changed at first login.
type CreateUserRequest struct {
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	Name  string `json:"name"`
	Role  string `json:"role"`
}

// CreateUserResponse answers POST /api/v1/users; the one-time password is
// shown only here.
type CreateUserResponse struct {
	User            UserDTO `json:"user"`
	OneTimePassword string  `json:"one_time_password"`
}

// UpdateUserRequest is the body of PATCH /api/v1/users/{id}; absent fields
// stay unchanged, an empty string clears e-mail or phone.
type UpdateUserRequest struct {
	Email *string `json:"email,omitempty"`
	Phone *string `json:"phone,omitempty"`
	Name  *string `json:"name,omitempty"`
	Role  *string `json:"role,omitempty"`
}

// ResetPasswordResponse answers POST /api/v1/users/{id}/reset-password.
type ResetPasswordResponse struct {
	OneTimePassword string `json:"one_time_password"`
}

// UserList answers GET /api/v1/users.
type UserList struct {
	Items      []UserDTO `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// FieldDTO describes one field of an object.
type FieldDTO struct {
	Name         string   `json:"name"`
	Label        string   `json:"label"`
	LabelZH      string   `json:"label_zh,omitempty"`
	Type         string   `json:"type"`
	Required     bool     `json:"required"`
	Custom       bool     `json:"custom"`
	Options      []string `json:"options,omitempty"`
	LookupObject string   `json:"lookup_object,omitempty"`
	MaxLength    int      `json:"max_length,omitempty"`
	FieldProtectionDTO
	// ConversionPending is true while a background job converts stored
	// values after encryption was switched on or off.
	ConversionPending bool `json:"conversion_pending,omitempty"`
}

// FieldProtectionDTO is a field's encryption, search and visibility.
type FieldProtectionDTO struct {
	Encrypted  bool              `json:"encrypted"`
	Searchable bool              `json:"searchable"`
	Mask       string            `json:"mask,omitempty"`
	KeepFirst  int               `json:"keep_first,omitempty"`
	KeepLast   int               `json:"keep_last,omitempty"`
	Levels     map[string]string `json:"levels,omitempty"`
	Reveal     []string          `json:"reveal,omitempty"`
}

// ObjectDTO describes an object and its fields.
type ObjectDTO struct {
	Name      string     `json:"name"`
	Label     string     `json:"label"`
	LabelZH   string     `json:"label_zh,omitempty"`
	NameField string     `json:"name_field"`
	Standard  bool       `json:"standard"`
	Fields    []FieldDTO `json:"fields"`
}

// ObjectList answers GET /api/v1/objects.
type ObjectList struct {
	Items []ObjectDTO `json:"items"`
}

// CreateFieldRequest is the body of POST /api/v1/objects/{object}/fields.
// Custom field names must end in "__c" (added if missing).
type CreateFieldRequest struct {
	Name         string   `json:"name"`
	Label        string   `json:"label"`
	LabelZH      string   `json:"label_zh,omitempty"`
	Type         string   `json:"type"`
	Required     bool     `json:"required"`
	Options      []string `json:"options,omitempty"`
	LookupObject string   `json:"lookup_object,omitempty"`
	MaxLength    int      `json:"max_length,omitempty"`
	FieldProtectionDTO
}

// UpdateFieldResponse answers PATCH /api/v1/objects/{object}/fields/{field}.
type UpdateFieldResponse struct {
	Field FieldDTO `json:"field"`
	// JobID names the background job converting stored values, if one
	// was needed (see GET /api/v1/jobs/{id}).
	JobID string `json:"job_id,omitempty"`
}

// RevealRequest is the body of POST .../records/{id}/reveal.
type RevealRequest struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// RevealResponse carries one revealed value.
type RevealResponse struct {
	Field string `json:"field"`
	Value any    `json:"value"`
}

// RecordDTO is a CRM record.
type RecordDTO struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"`
	Version int64          `json:"version"`
	OwnerID string         `json:"owner_id"`
	Name    string         `json:"name"`
	Fields  map[string]any `json:"fields"`
	// Masked lists the fields whose values are shown masked to the caller.
	Masked    []string  `json:"masked,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RecordList answers a record list.
type RecordList struct {
	Items      []RecordDTO `json:"items"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// CreateRecordRequest is the body of POST /api/v1/objects/{object}/records.
type CreateRecordRequest struct {
	OwnerID string                     `json:"owner_id,omitempty"`
	Fields  map[string]json.RawMessage `json:"fields"`
}

// UpdateRecordRequest is the body of PATCH .../records/{id}. Version must
// equal the record's current version; a field set to null is cleared.
type UpdateRecordRequest struct {
	Version int64                      `json:"version"`
	OwnerID string                     `json:"owner_id,omitempty"`
	Fields  map[string]json.RawMessage `json:"fields"`
}

// ChangeDTO is one field's before and after value.
type ChangeDTO struct {
	Before any `json:"before"`
	After  any `json:"after"`
}

// ActorDTO names who acted.
type ActorDTO struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// AuditEventDTO is one audit event.
type AuditEventDTO struct {
	Seq        int64                `json:"seq"`
	At         time.Time            `json:"at"`
	Actor      ActorDTO             `json:"actor"`
	Via        string               `json:"via,omitempty"` // "token:<id>" for an API token; absent for a session
	Action     string               `json:"action"`
	ObjectType string               `json:"object_type,omitempty"`
	ObjectID   string               `json:"object_id,omitempty"`
	ObjectName string               `json:"object_name,omitempty"`
	IP         string               `json:"ip,omitempty"`
	UserAgent  string               `json:"user_agent,omitempty"`
	RequestID  string               `json:"request_id,omitempty"`
	Changes    map[string]ChangeDTO `json:"changes,omitempty"`
}

// AuditList answers GET /api/v1/audit and record history.
type AuditList struct {
	Items      []AuditEventDTO `json:"items"`
	NextCursor string          `json:"next_cursor,omitempty"`
}
