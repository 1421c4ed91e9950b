package access

import (
	"slices"

	"github.com/havencrm/haven/tenant"
)

// FieldLevel is how much of one field a role sees and may change.
//
//   - hidden: the field is absent everywhere (lists, detail, search,
//     filters, sorting, history) and cannot be written.
//   - masked: values show masked (138****5678). The role may enter a new
//     value, as with a password field, but never reads one back, and it
//     may not filter, sort or search by the field, so a value cannot be
//     inferred by probing. Roles listed in FieldPolicy.Reveal may show
//     one value with a stated reason, and that is audited.
//   - read: values show in clear; the field is read-only.
//   - edit: values show in clear and may be changed.
type FieldLevel string

const (
	FieldHidden FieldLevel = "hidden"
	FieldMasked FieldLevel = "masked"
	FieldRead   FieldLevel = "read"
	FieldEdit   FieldLevel = "edit"
)

// FieldLevels lists the levels from least to most.
var FieldLevels = []FieldLevel{FieldHidden, FieldMasked, FieldRead, FieldEdit}

// ValidFieldLevel reports whether l is a known level.
func ValidFieldLevel(l FieldLevel) bool { return slices.Contains(FieldLevels, l) }

// FieldPolicy is the visibility part of a field's metadata.
type FieldPolicy struct {
	// Mask is the rule masked values are shown with ("" masks whole).
	Mask MaskRule `json:"mask,omitempty"`
	// KeepFirst and KeepLast parameterise MaskCustom.
	KeepFirst int `json:"keep_first,omitempty"`
	KeepLast  int `json:"keep_last,omitempty"`
	// Levels maps a role to its level; a role not listed may edit.
	Levels map[string]FieldLevel `json:"levels,omitempty"`
	// Reveal lists the roles that, seeing the field masked, may show a
	// value with a reason.
	Reveal []string `json:"reveal,omitempty"`
}

// Protected reports whether any role sees less than edit.
func (p FieldPolicy) Protected() bool {
	for _, l := range p.Levels {
		if l != FieldEdit {
			return true
		}
	}
	return false
}

// MaskValue masks one value by the policy's rule.
func (p FieldPolicy) MaskValue(v string) string {
	rule := p.Mask
	if rule == "" {
		rule = MaskFull
	}
	return Mask(rule, v, WithKeep(p.KeepFirst, p.KeepLast))
}

// FieldAccess returns the level actor has on a field with policy p.
// Anything but a signed-in tenant user sees nothing, so a new kind of
// principal starts from hidden until someone decides otherwise.
func FieldAccess(actor tenant.Actor, p FieldPolicy) FieldLevel {
	if actor.Kind == tenant.ActorOperator {
		// An operator sees protected fields masked, whatever any role may.
		if p.Protected() || p.Mask != "" {
			return FieldMasked
		}
		if actor.Grant != nil && actor.Grant.Write {
			return FieldEdit
		}
		return FieldRead
	}
	if actor.Kind != tenant.ActorUser || !ValidRole(actor.Role) {
		return FieldHidden
	}
	if l, ok := p.Levels[actor.Role]; ok && ValidFieldLevel(l) {
		return l
	}
	if _, listed := p.Levels[actor.Role]; listed {
		return FieldHidden // an unknown stored level fails closed
	}
	return FieldEdit
}

// CanReadField reports whether the level shows values in clear.
func CanReadField(l FieldLevel) bool { return l == FieldRead || l == FieldEdit }

// CanWriteField reports whether the level may set values.
func CanWriteField(l FieldLevel) bool { return l == FieldEdit || l == FieldMasked }

// CanSetField reports whether actor may set a field with policy p. A
// tenant user with masked access may type a new value blind; an operator
// may change only what they read in clear, so that a grant to fix data
// never lets the vendor overwrite a protected value it cannot see.
func CanSetField(actor tenant.Actor, p FieldPolicy) bool {
	l := FieldAccess(actor, p)
	if actor.Kind == tenant.ActorOperator {
		return l == FieldEdit
	}
	return CanWriteField(l)
}

// CanReveal reports whether actor may show a masked value of the field.
func CanReveal(actor tenant.Actor, p FieldPolicy) bool {
	return FieldAccess(actor, p) == FieldMasked && slices.Contains(p.Reveal, actor.Role)
}

// SensitivePolicy is the default for personal data fields: admins and
// managers edit, sales users see values masked (and may reveal them when
// reveal is true).
func SensitivePolicy(rule MaskRule, reveal bool) FieldPolicy {
	p := FieldPolicy{Mask: rule, Levels: map[string]FieldLevel{RoleAdmin: FieldEdit, RoleManager: FieldEdit, RoleSales: FieldMasked}}
	if reveal {
		p.Reveal = []string{RoleSales}
	}
	return p
}
