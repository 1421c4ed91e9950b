package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/havencrm/haven/access"
	"github.com/havencrm/haven/apperr"
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
	"github.com/havencrm/haven/internal/httpx"
	"github.com/havencrm/haven/records"
)

func (a *API) login(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	var req LoginRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	res, err := a.d.Identity.Login(r.Context(), identity.LoginInput{
		TenantSlug: req.Tenant, Login: req.Login, Password: req.Password,
		CaptchaID: req.CaptchaID, CaptchaAnswer: req.CaptchaAnswer, TOTP: req.TOTP,
		IP: httpx.ClientIP(r), UserAgent: r.UserAgent(), RequestID: httpx.RequestID(r.Context()),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, LoginResponse{Token: res.Token, ExpiresAt: res.ExpiresAt, MustChangePassword: res.MustChangePassword,
		MustEnrollMFA: res.MustEnrolMFA, User: userDTO(res.User)})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	if err := a.d.Identity.Logout(r.Context(), p.Actor); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req ChangePasswordRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.d.Identity.ChangePassword(r.Context(), p.Actor, req.CurrentPassword, req.NewPassword); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) me(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	t := p.Tenant
	objs, err := a.d.Records.Objects(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	perms := make(map[string]ObjectPermissionDTO, len(objs))
	for _, o := range objs {
		op := access.ForObject(p.Actor.Role, o.Name)
		actions := make([]string, 0, len(op.Actions))
		for _, act := range op.Actions {
			actions = append(actions, string(act))
		}
		perms[o.Name] = ObjectPermissionDTO{Actions: actions, Scope: string(op.Scope)}
	}
	writeJSON(w, http.StatusOK, MeResponse{
		User:        userDTO(p.User),
		Tenant:      TenantDTO{ID: string(t.ID), Slug: t.Slug, Name: t.Name, Status: string(t.Status)},
		Permissions: perms,
	})
}

func userDTO(u identity.User) UserDTO {
	return UserDTO{ID: u.ID, Email: u.Email, Phone: u.Phone, Name: u.Name, Role: u.Role, Status: string(u.Status),
		MustChangePassword: u.MustChangePassword, LastLoginAt: u.LastLoginAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	limit, err := intParam(r, "limit", 50, 1, 200)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	users, next, err := a.d.Identity.Users(r.Context(), p.Actor, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// Every principal that can act in the tenant shows here: users, and
	// under each the live API tokens acting as them.
	tokens, err := a.d.Accounts.LiveTokensByUser(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := UserList{Items: make([]UserDTO, 0, len(users)), NextCursor: next}
	for _, u := range users {
		dto := userDTO(u)
		for _, t := range tokens[u.ID] {
			dto.APITokens = append(dto.APITokens, TokenSummaryDTO{ID: t.ID, Name: t.Name, Scope: t.Scope, ExpiresAt: t.ExpiresAt})
		}
		out.Items = append(out.Items, dto)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req CreateUserRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	in := identity.UserInput{Name: &req.Name, Role: &req.Role}
	if req.Email != "" {
		in.Email = &req.Email
	}
	if req.Phone != "" {
		in.Phone = &req.Phone
	}
	nu, err := a.d.Identity.CreateUser(r.Context(), p.Actor, in)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, CreateUserResponse{User: userDTO(nu.User), OneTimePassword: nu.OneTimePassword})
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	u, err := a.d.Identity.User(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userDTO(u))
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req UpdateUserRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.d.Identity.UpdateUser(r.Context(), p.Actor, r.PathValue("id"), identity.UserInput{Email: req.Email, Phone: req.Phone, Name: req.Name, Role: req.Role})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userDTO(u))
}

func (a *API) deactivateUser(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	u, err := a.d.Identity.Deactivate(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userDTO(u))
}

func (a *API) resetPassword(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	otp, err := a.d.Identity.ResetPassword(r.Context(), p.Actor, r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ResetPasswordResponse{OneTimePassword: otp})
}

func fieldDTO(f records.Field) FieldDTO {
	return FieldDTO{Name: f.Name, Label: f.Label, LabelZH: f.LabelZH, Type: string(f.Type), Required: f.Required, Custom: f.Custom,
		Options: f.Options, LookupObject: f.LookupObject, MaxLength: f.MaxLength, ConversionPending: f.CryptoPending,
		FieldProtectionDTO: protectionDTO(f)}
}

func objectDTO(o records.Object) ObjectDTO {
	out := ObjectDTO{Name: o.Name, Label: o.Label, LabelZH: o.LabelZH, NameField: o.NameField, Standard: o.Standard, Fields: make([]FieldDTO, 0, len(o.Fields))}
	for _, f := range o.Fields {
		out.Fields = append(out.Fields, fieldDTO(f))
	}
	return out
}

func (a *API) listObjects(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	objs, err := a.d.Records.Objects(r.Context(), p.Actor)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := ObjectList{Items: make([]ObjectDTO, 0, len(objs))}
	for _, o := range objs {
		out.Items = append(out.Items, objectDTO(o))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getObject(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	o, err := a.d.Records.Object(r.Context(), p.Actor, r.PathValue("object"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, objectDTO(o))
}

func (a *API) createField(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req CreateFieldRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := a.d.Records.AddField(r.Context(), p.Actor, r.PathValue("object"), records.Field{
		Name: req.Name, Label: req.Label, LabelZH: req.LabelZH, Type: records.FieldType(req.Type), Required: req.Required,
		Options: req.Options, LookupObject: req.LookupObject, MaxLength: req.MaxLength,
		Encrypted: req.Encrypted, Searchable: req.Searchable, Policy: policyFromDTO(req.FieldProtectionDTO),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, fieldDTO(f))
}

func recordDTO(rec records.Record) RecordDTO {
	fields := rec.Fields
	if fields == nil {
		fields = map[string]any{}
	}
	return RecordDTO{ID: rec.ID, Object: rec.Object, Version: rec.Version, OwnerID: rec.OwnerID, Name: rec.Name, Fields: fields,
		Masked: rec.Masked, CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt}
}

func (a *API) listRecords(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	qv := r.URL.Query()
	limit, err := intParam(r, "limit", 50, 1, 200)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q := records.ListQuery{Limit: limit, Cursor: qv.Get("cursor"), Sort: qv.Get("sort"), Q: qv.Get("q"), Filters: map[string]string{}}
	for key, vals := range qv {
		switch key {
		case "limit", "cursor", "sort", "q":
			if len(vals) > 1 {
				a.writeError(w, r, apperr.Invalid("%s may be given once", key))
				return
			}
			continue
		}
		name, ok := strings.CutPrefix(key, "filter[")
		if !ok || !strings.HasSuffix(name, "]") {
			a.writeError(w, r, apperr.Invalid("unknown query parameter %q", truncate(key, 60)))
			return
		}
		if len(vals) != 1 {
			a.writeError(w, r, apperr.Invalid("%s may be given once", truncate(key, 60)))
			return
		}
		q.Filters[strings.TrimSuffix(name, "]")] = vals[0]
	}
	items, next, err := a.d.Records.List(r.Context(), p.Actor, r.PathValue("object"), q)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := RecordList{Items: make([]RecordDTO, 0, len(items)), NextCursor: next}
	for _, rec := range items {
		out.Items = append(out.Items, recordDTO(rec))
	}
	writeJSON(w, http.StatusOK, out)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (a *API) createRecord(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req CreateRecordRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Fields == nil {
		a.writeError(w, r, apperr.Invalid("fields is required"))
		return
	}
	rec, err := a.d.Records.Create(r.Context(), p.Actor, r.PathValue("object"), req.OwnerID, records.Values(req.Fields))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/objects/"+rec.Object+"/records/"+rec.ID)
	writeJSON(w, http.StatusCreated, recordDTO(rec))
}

func (a *API) getRecord(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	rec, err := a.d.Records.Get(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recordDTO(rec))
}

func (a *API) updateRecord(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var req UpdateRecordRequest
	if err := a.decode(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	rec, err := a.d.Records.Update(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"), req.Version, req.OwnerID, records.Values(req.Fields))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, recordDTO(rec))
}

func (a *API) deleteRecord(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	var version int64
	if s := r.URL.Query().Get("version"); s != "" {
		n, err := intParam(r, "version", 0, 1, 1<<62)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		version = int64(n)
	}
	if err := a.d.Records.Delete(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"), version); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func eventDTO(e audit.Event) AuditEventDTO {
	out := AuditEventDTO{
		Seq: e.Seq, At: e.At, Actor: ActorDTO{Type: e.ActorType, ID: e.ActorID, Name: e.ActorName}, Via: e.Via, Action: e.Action,
		ObjectType: e.ObjectType, ObjectID: e.ObjectID, ObjectName: e.ObjectName, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID,
	}
	if len(e.Changes) > 0 {
		out.Changes = make(map[string]ChangeDTO, len(e.Changes))
		for k, c := range e.Changes {
			out.Changes[k] = ChangeDTO{Before: c.Before, After: c.After}
		}
	}
	return out
}

func auditList(events []audit.Event, next int64) AuditList {
	out := AuditList{Items: make([]AuditEventDTO, 0, len(events)), NextCursor: seqNext(next)}
	for _, e := range events {
		out.Items = append(out.Items, eventDTO(e))
	}
	return out
}

func (a *API) recordHistory(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	limit, err := intParam(r, "limit", 50, 1, 200)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	before, err := seqCursor(r.URL.Query().Get("cursor"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	events, next, err := a.d.Records.History(r.Context(), p.Actor, r.PathValue("object"), r.PathValue("id"), before, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditList(events, next))
}

func (a *API) listAudit(w http.ResponseWriter, r *http.Request, p *identity.Principal) {
	qv := r.URL.Query()
	for key := range qv {
		if !slices.Contains([]string{"from", "to", "actor", "action", "object", "object_id", "limit", "cursor"}, key) {
			a.writeError(w, r, apperr.Invalid("unknown query parameter %q", truncate(key, 60)))
			return
		}
	}
	f := audit.Filter{ActorID: qv.Get("actor"), Action: qv.Get("action"), ObjectType: qv.Get("object"), ObjectID: qv.Get("object_id")}
	var err error
	if f.From, err = timeParam(r, "from"); err == nil {
		f.To, err = timeParam(r, "to")
	}
	if err == nil {
		f.Limit, err = intParam(r, "limit", 50, 1, 200)
	}
	if err == nil {
		f.BeforeSeq, err = seqCursor(qv.Get("cursor"))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	events, next, err := a.d.Audit.Query(r.Context(), p.Actor, f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditList(events, next))
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request, _ *identity.Principal) {
	if err := a.d.DB.Ping(r.Context()); err != nil {
		a.d.Log.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// RecordToDTO maps a record for the operator API, which shares the shape.
func RecordToDTO(r records.Record) RecordDTO { return recordDTO(r) }
