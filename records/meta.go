// Package records owns CRM object and field metadata, records, their
// validation and their history.
package records

import (
	"regexp"
	"slices"

	"github.com/havencrm/haven/access"
)

// FieldType is the type of a field's values.
type FieldType string

const (
	TypeText     FieldType = "text"
	TypeTextarea FieldType = "textarea"
	TypeNumber   FieldType = "number"
	TypeCurrency FieldType = "currency"
	TypeDate     FieldType = "date"
	TypeDatetime FieldType = "datetime"
	TypeBoolean  FieldType = "boolean"
	TypePicklist FieldType = "picklist"
	TypeEmail    FieldType = "email"
	TypePhone    FieldType = "phone"
	TypeURL      FieldType = "url"
	TypeLookup   FieldType = "lookup"
)

// FieldTypes lists every supported field type.
var FieldTypes = []FieldType{TypeText, TypeTextarea, TypeNumber, TypeCurrency, TypeDate, TypeDatetime,
	TypeBoolean, TypePicklist, TypeEmail, TypePhone, TypeURL, TypeLookup}

// ValidType reports whether t is a supported field type.
func ValidType(t FieldType) bool { return slices.Contains(FieldTypes, t) }

// Sortable reports whether lists may be ordered by a field of this type.
func (t FieldType) Sortable() bool { return t != TypeTextarea && t != TypeLookup }

// Field describes one field of an object.
type Field struct {
	Name         string
	Label        string
	LabelZH      string
	Type         FieldType
	Required     bool
	Custom       bool
	Options      []string
	LookupObject string
	MaxLength    int
	Position     int
	// Encrypted values are stored sealed with the tenant's data key.
	Encrypted bool
	// Searchable encrypted fields keep a blind index for exact-match
	// filters and quick search.
	Searchable bool
	// CryptoPending is set while a background job converts stored values
	// after Encrypted changed: until it clears, values of both forms exist
	// and searches look for both.
	CryptoPending bool
	// Policy is who sees the field how (hidden, masked, read, edit).
	Policy access.FieldPolicy
}

// Encryptable reports whether values of this type may be encrypted:
// picklists, booleans and lookups are structure rather than personal
// data, and encrypting them would only break filters and joins.
func (t FieldType) Encryptable() bool {
	switch t {
	case TypePicklist, TypeBoolean, TypeLookup:
		return false
	}
	return true
}

// Object describes a CRM object (standard or, later, custom) and its fields.
type Object struct {
	Name      string
	Label     string
	LabelZH   string
	NameField string
	Standard  bool
	Fields    []Field
}

// Field returns the named field.
func (o *Object) Field(name string) (Field, bool) {
	for _, f := range o.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Standard object names.
const (
	ObjectAccount     = "account"
	ObjectContact     = "contact"
	ObjectLead        = "lead"
	ObjectOpportunity = "opportunity"
	ObjectActivity    = "activity"
)

// StandardObjectNames lists the objects every tenant starts with.
var StandardObjectNames = []string{ObjectAccount, ObjectContact, ObjectLead, ObjectOpportunity, ObjectActivity}

var customFieldName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}__c$`)

// ValidCustomFieldName reports whether name is a valid custom field name:
// lower-case, starting with a letter, ending in "__c" so it can never
// collide with a standard field added later.
func ValidCustomFieldName(name string) bool { return customFieldName.MatchString(name) }

func f(name, label, labelZH string, t FieldType) Field {
	return Field{Name: name, Label: label, LabelZH: labelZH, Type: t}
}

func req(fl Field) Field { fl.Required = true; return fl }

func pick(fl Field, options ...string) Field { fl.Options = options; return fl }

func lookup(fl Field, object string) Field { fl.LookupObject = object; return fl }

// sensitive marks a field as personal data: encrypted, masked for sales
// by rule, searchable by exact match when search is true.
func sensitive(fl Field, rule access.MaskRule, search, reveal bool) Field {
	fl.Encrypted, fl.Searchable = true, search
	fl.Policy = access.SensitivePolicy(rule, reveal)
	return fl
}

// StandardObjects returns fresh definitions of the standard objects.
func StandardObjects() []Object {
	objs := []Object{
		{
			Name: ObjectAccount, Label: "Accounts", LabelZH: "客户", NameField: "name", Standard: true,
			Fields: []Field{
				req(f("name", "Account name", "客户名称", TypeText)),
				pick(f("industry", "Industry", "行业", TypePicklist), "technology", "manufacturing", "finance", "retail", "healthcare", "education", "energy", "other"),
				pick(f("type", "Type", "类型", TypePicklist), "prospect", "customer", "partner", "competitor"),
				f("phone", "Phone", "电话", TypePhone),
				f("email", "E-mail", "邮箱", TypeEmail),
				f("website", "Website", "网站", TypeURL),
				f("annual_revenue", "Annual revenue", "年收入", TypeCurrency),
				f("employees", "Employees", "员工人数", TypeNumber),
				f("city", "City", "城市", TypeText),
				f("address", "Address", "地址", TypeText),
				f("description", "Description", "描述", TypeTextarea),
			},
		},
		{
			Name: ObjectContact, Label: "Contacts", LabelZH: "联系人", NameField: "name", Standard: true,
			Fields: []Field{
				req(f("name", "Name", "姓名", TypeText)),
				lookup(f("account_id", "Account", "所属客户", TypeLookup), ObjectAccount),
				f("title", "Title", "职位", TypeText),
				sensitive(f("mobile", "Mobile", "手机", TypePhone), access.MaskMobile, true, true),
				f("phone", "Phone", "电话", TypePhone),
				sensitive(f("email", "E-mail", "邮箱", TypeEmail), access.MaskEmail, true, true),
				sensitive(f("id_number", "ID number", "身份证号", TypeText), access.MaskIDNumber, true, false),
				sensitive(f("bank_account", "Bank account", "银行账号", TypeText), access.MaskBankCard, false, false),
				sensitive(f("address", "Address", "地址", TypeText), access.MaskAddress, false, true),
				f("birthday", "Birthday", "生日", TypeDate),
				f("do_not_call", "Do not call", "请勿致电", TypeBoolean),
				f("description", "Description", "描述", TypeTextarea),
			},
		},
		{
			Name: ObjectLead, Label: "Leads", LabelZH: "线索", NameField: "name", Standard: true,
			Fields: []Field{
				req(f("name", "Name", "姓名", TypeText)),
				f("company", "Company", "公司", TypeText),
				f("title", "Title", "职位", TypeText),
				sensitive(f("mobile", "Mobile", "手机", TypePhone), access.MaskMobile, true, true),
				sensitive(f("email", "E-mail", "邮箱", TypeEmail), access.MaskEmail, true, true),
				sensitive(f("id_number", "ID number", "身份证号", TypeText), access.MaskIDNumber, true, false),
				sensitive(f("bank_account", "Bank account", "银行账号", TypeText), access.MaskBankCard, false, false),
				sensitive(f("address", "Address", "地址", TypeText), access.MaskAddress, false, true),
				pick(f("source", "Source", "来源", TypePicklist), "web", "referral", "event", "advertising", "cold_call", "partner", "other"),
				pick(f("status", "Status", "状态", TypePicklist), "new", "contacted", "qualified", "unqualified", "converted"),
				f("description", "Description", "描述", TypeTextarea),
			},
		},
		{
			Name: ObjectOpportunity, Label: "Opportunities", LabelZH: "商机", NameField: "name", Standard: true,
			Fields: []Field{
				req(f("name", "Opportunity name", "商机名称", TypeText)),
				lookup(f("account_id", "Account", "所属客户", TypeLookup), ObjectAccount),
				f("amount", "Amount", "金额", TypeCurrency),
				req(pick(f("stage", "Stage", "阶段", TypePicklist), "prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost")),
				f("probability", "Probability (%)", "赢率 (%)", TypeNumber),
				f("close_date", "Close date", "预计成交日期", TypeDate),
				f("next_step", "Next step", "下一步", TypeText),
				f("description", "Description", "描述", TypeTextarea),
			},
		},
		{
			Name: ObjectActivity, Label: "Activities", LabelZH: "活动", NameField: "subject", Standard: true,
			Fields: []Field{
				req(f("subject", "Subject", "主题", TypeText)),
				req(pick(f("type", "Type", "类型", TypePicklist), "call", "meeting", "email", "task", "visit")),
				f("due_at", "Due", "时间", TypeDatetime),
				f("done", "Done", "已完成", TypeBoolean),
				lookup(f("account_id", "Account", "相关客户", TypeLookup), ObjectAccount),
				lookup(f("contact_id", "Contact", "相关联系人", TypeLookup), ObjectContact),
				lookup(f("opportunity_id", "Opportunity", "相关商机", TypeLookup), ObjectOpportunity),
				f("notes", "Notes", "备注", TypeTextarea),
			},
		},
	}
	for i := range objs {
		for j := range objs[i].Fields {
			objs[i].Fields[j].Position = j
		}
	}
	return objs
}
