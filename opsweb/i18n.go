package opsweb

import (
	"net/http"
	"strings"

	"github.com/havencrm/haven/internal/webkit"
)

// Language choice works as in the tenant UI (package web), through the
// same code (internal/webkit): an explicit choice in the "lang" cookie,
// then the best Accept-Language entry, then English. The cookie is shared
// with the tenant UI on purpose: it holds only "en" or "zh-CN", and one
// choice per browser is what people expect. The catalog is the console's
// own.

// Lang is a console language.
type Lang = webkit.Lang

// The supported languages.
const (
	LangEN = webkit.LangEN
	LangZH = webkit.LangZH
)

// translate returns the message for key in lang; a missing key renders
// visibly so tests catch it.
func translate(l Lang, key string, args ...any) string {
	return webkit.Translate(catalog, l, key, args...)
}

// translateOr translates key, or returns fallback for keys the catalog
// does not know (a custom object, a state added later).
func translateOr(l Lang, key, fallback string) string {
	return webkit.TranslateOr(catalog, l, key, fallback)
}

// catalog holds every console string: key → {English, Simplified Chinese}.
var catalog = map[string][2]string{
	"app.name":        {"Haven operator console", "Haven 运维控制台"},
	"a11y.skip":       {"Skip to content", "跳到正文"},
	"nav.main":        {"Console", "控制台"},
	"nav.tenants":     {"Tenants", "租户"},
	"nav.requests":    {"My access requests", "我的访问申请"},
	"nav.new_request": {"Request access", "申请访问"},
	"nav.language":    {"Language", "语言"},
	"nav.logout":      {"Sign out", "退出"},
	"nav.signed_in":   {"Signed in as", "当前登录"},
	"lang.en":         {"English", "English"},
	"lang.zh":         {"中文", "中文"},
	"footer.promise":  {"Operators reach tenant data only under a grant the tenant approved in writing; every read lands in the tenant's audit log.", "运维人员仅能在租户书面批准的授权下访问租户数据；每次读取都会记入租户的审计日志。"},
	"footer.tz":       {"Times are shown in UTC.", "时间以 UTC 显示。"},

	"role.support":  {"Support", "技术支持"},
	"role.sre":      {"SRE", "运维工程师"},
	"role.security": {"Security", "安全官"},

	"flash.signed_out":       {"You have signed out.", "您已退出。"},
	"flash.session_ended":    {"Your session has ended. Please sign in again.", "会话已结束，请重新登录。"},
	"flash.password_changed": {"Your password was changed.", "密码已修改。"},
	"flash.requested":        {"Your request was sent to the tenant's admins.", "申请已发送给租户管理员。"},
	"flash.withdrawn":        {"Your request was withdrawn; the tenant's admins can no longer approve it.", "申请已撤回，租户管理员无法再批准该申请。"},
	"flash.record_updated":   {"The record was saved. The change is recorded in the tenant's audit log.", "记录已保存。此次修改已记入租户的审计日志。"},

	"login.title":     {"Operator sign-in", "运维人员登录"},
	"login.heading":   {"Operator sign-in", "运维人员登录"},
	"login.subtitle":  {"For the vendor's staff. Tenant users sign in at the tenant sign-in page.", "仅供服务商员工使用。租户用户请在租户登录页登录。"},
	"login.email":     {"E-mail", "邮箱"},
	"login.password":  {"Password", "密码"},
	"login.totp":      {"Authenticator code", "动态验证码"},
	"login.totp_hint": {"The 6-digit code from your authenticator app; each code works once.", "身份验证器中的 6 位数字；每个验证码只能使用一次。"},
	"login.submit":    {"Sign in", "登录"},
	"login.invalid":   {"The e-mail, password or authenticator code is not correct.", "邮箱、密码或动态验证码不正确。"},
	"login.missing":   {"Enter your e-mail, password and authenticator code.", "请输入邮箱、密码和动态验证码。"},
	"login.locked":    {"This account is locked after too many failed sign-ins. Try again later.", "登录失败次数过多，账号已锁定，请稍后再试。"},
	"login.rate":      {"Too many attempts. Try again later.", "尝试次数过多，请稍后再试。"},
	"login.note":      {"Operator sign-ins are recorded in the platform audit trail.", "运维人员的登录会记入平台审计日志。"},

	"password.title":    {"Change your password", "修改密码"},
	"password.forced":   {"Replace your one-time password before you continue.", "请先替换一次性密码再继续。"},
	"password.current":  {"Current password", "当前密码"},
	"password.new":      {"New password", "新密码"},
	"password.confirm":  {"Repeat the new password", "再次输入新密码"},
	"password.submit":   {"Change password", "修改密码"},
	"password.required": {"Required.", "必填。"},
	"password.mismatch": {"The two new passwords differ.", "两次输入的新密码不一致。"},
	"password.wrong":    {"The current password is not correct.", "当前密码不正确。"},
	"password.policy":   {"The new password does not meet the rules:", "新密码不符合规则："},
	"password.hint":     {"At least 12 characters.", "至少 12 个字符。"},

	"dash.title":       {"Tenants", "租户"},
	"dash.subtitle":    {"Metadata only: no tenant data is shown here. To read records, request access and wait for the tenant's written approval.", "此处仅显示元数据，不含租户数据。如需查看记录，请申请访问并等待租户书面批准。"},
	"dash.name":        {"Tenant", "租户"},
	"dash.slug":        {"Slug", "标识"},
	"dash.status":      {"Status", "状态"},
	"dash.users":       {"Users", "用户数"},
	"dash.records":     {"Records", "记录数"},
	"dash.contract":    {"Contract ends", "合同到期"},
	"dash.created":     {"Created", "创建时间"},
	"dash.no_contract": {"open-ended", "无固定期限"},
	"dash.request":     {"Request access", "申请访问"},
	"dash.none":        {"There are no tenants.", "暂无租户。"},
	"dash.active":      {"Your active grants", "您当前有效的授权"},
	"dash.active_none": {"You have no active grant.", "您当前没有有效的授权。"},

	"status.active":    {"active", "正常"},
	"status.suspended": {"suspended", "已暂停"},
	"status.grace":     {"grace period", "宽限期"},
	"status.closed":    {"closed", "已关闭"},
	"status.purged":    {"purged", "已清除"},

	"req.new_title":        {"Request access to a tenant", "申请访问租户"},
	"req.new_subtitle":     {"The tenant's admins are notified and must approve in writing. They may narrow the scope or shorten the window.", "租户管理员会收到通知，并须书面批准；他们可以缩小范围或缩短时长。"},
	"req.tenant":           {"Tenant", "租户"},
	"req.tenant_choose":    {"Choose a tenant", "请选择租户"},
	"req.kind":             {"Kind", "类型"},
	"req.reason":           {"Reason", "原因"},
	"req.reason_hint":      {"What you need to look at and why; the tenant's admins read this.", "需要查看的内容及原因；租户管理员会看到此说明。"},
	"req.ticket":           {"Ticket reference", "工单号"},
	"req.objects":          {"Objects", "对象"},
	"req.custom":           {"Custom objects", "自定义对象"},
	"req.custom_hint":      {"API names, separated by commas.", "API 名称，用逗号分隔。"},
	"req.access":           {"Access", "权限"},
	"req.read":             {"Read-only", "只读"},
	"req.read_write":       {"Read and write", "读写"},
	"req.hours":            {"Duration (hours, at most 72)", "时长（小时，最多 72）"},
	"req.submit":           {"Send request", "提交申请"},
	"req.failed":           {"The request was not accepted:", "申请未被接受："},
	"req.err_required":     {"Required.", "必填。"},
	"req.err_tenant":       {"Choose a tenant that exists.", "请选择存在的租户。"},
	"req.err_objects":      {"Choose at least one object.", "请至少选择一个对象。"},
	"req.err_hours":        {"Enter a number of hours greater than 0 and at most 72.", "请输入大于 0 且不超过 72 的小时数。"},
	"req.err_custom":       {"Use API names: lower-case letters, digits and underscores.", "请使用 API 名称：小写字母、数字和下划线。"},
	"req.list_title":       {"My access requests", "我的访问申请"},
	"req.list_subtitle":    {"Every request you made, in every tenant, as it stands now.", "您在所有租户中提交的申请及其当前状态。"},
	"req.none":             {"You have made no request yet.", "您还没有提交过申请。"},
	"req.state":            {"State", "状态"},
	"req.scope":            {"Scope", "范围"},
	"req.window":           {"Window", "时间窗口"},
	"req.requested_at":     {"Requested", "申请时间"},
	"req.requested_scope":  {"Requested scope", "申请的范围"},
	"req.granted_scope":    {"Granted scope", "批准的范围"},
	"req.requested_hours":  {"Requested duration", "申请的时长"},
	"req.hours_n":          {"%s h", "%s 小时"},
	"req.from_until":       {"%s – %s", "%s 至 %s"},
	"req.approvals":        {"Approvals", "批准"},
	"req.approvals_n":      {"%d of %d", "%d / %d"},
	"req.statement":        {"Written statement", "书面声明"},
	"req.approved_at":      {"Approved", "批准于"},
	"req.denied_at":        {"Denied", "拒绝于"},
	"req.revoked_at":       {"Revoked", "撤销于"},
	"req.ended":            {"Ended", "结束于"},
	"req.open":             {"Open records", "查看记录"},
	"req.detail":           {"Details", "详情"},
	"req.detail_title":     {"Access request", "访问申请"},
	"req.back":             {"All my requests", "全部申请"},
	"req.withdraw":         {"Withdraw request", "撤回申请"},
	"req.withdraw_hint":    {"While nobody has decided, you may take the request back. The tenant's admins see that you did.", "在管理员作出决定之前，您可以撤回申请。租户管理员会看到撤回记录。"},
	"req.withdraw_refused": {"This request can no longer be withdrawn: it is %s. Only a pending request can be withdrawn; an approved grant ends when an admin revokes it or its window passes.", "该申请已无法撤回：当前状态为“%s”。只有待批准的申请可以撤回；已批准的授权在管理员撤销或到期后结束。"},

	"state.pending":         {"pending", "待批准"},
	"state.awaiting_second": {"approved, awaiting a second admin", "已批准，待第二位管理员批准"},
	"state.approved":        {"approved", "已批准"},
	"state.denied":          {"denied", "已拒绝"},
	"state.active":          {"active", "生效中"},
	"state.expired":         {"expired", "已过期"},
	"state.revoked":         {"revoked", "已撤销"},
	"state.withdrawn":       {"withdrawn", "已撤回"},

	"kind.support":  {"support", "技术支持"},
	"kind.restore":  {"restore from backup", "从备份恢复"},
	"kind.data_fix": {"data fix", "数据修复"},

	"object.account":     {"Accounts", "客户"},
	"object.contact":     {"Contacts", "联系人"},
	"object.lead":        {"Leads", "线索"},
	"object.opportunity": {"Opportunities", "商机"},
	"object.activity":    {"Activities", "活动"},

	"rec.grant_note":  {"Read under grant %s, until %s. Every page you open here is recorded in %s's audit log.", "依据授权 %s 读取，有效期至 %s。您在此打开的每个页面都会记入 %s 的审计日志。"},
	"rec.name":        {"Name", "名称"},
	"rec.updated":     {"Updated", "更新时间"},
	"rec.created":     {"Created", "创建时间"},
	"rec.version":     {"Version", "版本"},
	"rec.id":          {"ID", "ID"},
	"rec.none":        {"No records.", "暂无记录。"},
	"rec.next":        {"Next page", "下一页"},
	"rec.first":       {"First page", "第一页"},
	"rec.masked":      {"masked", "已脱敏"},
	"rec.masked_note": {"Protected fields stay masked for operators; encrypted values are never decrypted for you.", "受保护字段对运维人员始终脱敏显示；加密值不会为您解密。"},
	"rec.fields":      {"Fields", "字段"},
	"rec.system":      {"System", "系统信息"},
	"rec.back":        {"Back to the list", "返回列表"},
	"rec.yes":         {"yes", "是"},
	"rec.no":          {"no", "否"},

	"rec.edit": {"Edit", "编辑"},

	"edit.title":         {"Edit %s", "编辑 %s"},
	"edit.note":          {"Changed under grant %s, until %s. The change is recorded in %s's audit log with the values before and after.", "依据授权 %s 修改，有效期至 %s。此次修改会连同修改前后的值记入 %s 的审计日志。"},
	"edit.readonly":      {"Read-only for operators.", "运维人员只读。"},
	"edit.masked":        {"Protected: stays masked and cannot be changed by an operator.", "受保护字段：始终脱敏，运维人员不可修改。"},
	"edit.utc":           {"In UTC.", "以 UTC 计。"},
	"edit.choose":        {"Choose…", "请选择…"},
	"edit.save":          {"Save", "保存"},
	"edit.cancel":        {"Cancel", "取消"},
	"edit.errors":        {"The record was not saved. Correct the fields marked below.", "记录未保存，请修改下方标出的字段。"},
	"edit.general_error": {"The record was not saved: %s", "记录未保存：%s"},
	"edit.conflict":      {"Someone changed this record after you opened the form, so your change was not saved.", "您打开表单后，此记录已被他人修改，因此您的修改未保存。"},
	"edit.conflict_hint": {"The form now shows the record as it stands; make your change again if it is still needed.", "表单现在显示记录的最新内容；如仍需修改，请重新填写。"},

	"field.required":     {"This field is required.", "此项为必填。"},
	"field.unknown":      {"This field does not exist.", "该字段不存在。"},
	"field.not_settable": {"Operators may not change this field.", "运维人员不可修改此字段。"},
	"field.text":         {"Enter text.", "请输入文本。"},
	"field.number":       {"Enter a number.", "请输入数字。"},
	"field.boolean":      {"Choose yes or no.", "请选择是或否。"},
	"field.too_large":    {"The number is too large.", "数值过大。"},
	"field.decimals":     {"Use at most two decimal places.", "最多保留两位小数。"},
	"field.invalid_text": {"The text contains invalid characters.", "文本包含无效字符。"},
	"field.single_line":  {"Enter a single line.", "请输入单行文本。"},
	"field.email":        {"Enter an e-mail address like name@example.com.", "请输入有效的邮箱地址，例如 name@example.com。"},
	"field.phone":        {"Enter a phone number (digits, spaces, dashes, an optional leading +).", "请输入有效的电话号码（数字、空格、短横线，可以 + 开头）。"},
	"field.url":          {"Enter a web address starting with http:// or https://.", "请输入以 http:// 或 https:// 开头的网址。"},
	"field.date":         {"Enter a date like 2026-01-31.", "请输入日期，例如 2026-01-31。"},
	"field.datetime":     {"Enter a date and time.", "请输入日期和时间。"},
	"field.version":      {"the form is incomplete; reload it and try again.", "表单不完整，请刷新后重试。"},
	"field.max_chars":    {"At most %s characters.", "最多 %s 个字符。"},
	"field.one_of":       {"Choose one of: %s.", "请从以下选项中选择：%s。"},
	"field.other":        {"The value is not accepted (%s).", "该值未被接受（%s）。"},

	"refused.title": {"No access", "无访问权限"},
	"refused.text":  {"You have no active grant that covers this. Access to a tenant's data needs a grant its admin approved in writing; a grant ends when it is revoked or its window passes.", "您没有覆盖此内容的有效授权。访问租户数据需要其管理员书面批准的授权；授权被撤销或到期后即失效。"},
	"refused.ask":   {"Request access", "申请访问"},

	"error.400.title":  {"Bad request", "请求无效"},
	"error.400.text":   {"The request could not be understood.", "无法处理该请求。"},
	"error.404.title":  {"Not found", "未找到"},
	"error.404.text":   {"There is nothing here.", "此处没有内容。"},
	"error.409.title":  {"Conflict", "冲突"},
	"error.409.text":   {"Something changed meanwhile. Reload and try again.", "内容已被更改，请刷新后重试。"},
	"error.413.title":  {"Too large", "内容过大"},
	"error.413.text":   {"The submitted form is too large.", "提交的表单过大。"},
	"error.500.title":  {"Something went wrong", "出错了"},
	"error.500.text":   {"The error was logged. Quote the request ID when you report it.", "错误已记录。报告问题时请提供请求 ID。"},
	"error.csrf.title": {"Form expired", "表单已失效"},
	"error.csrf.text":  {"The form could not be verified. Go back, reload the page and try again.", "无法验证该表单。请返回并刷新页面后重试。"},
	"error.request_id": {"Request ID", "请求 ID"},
	"error.home":       {"Back to the console", "返回控制台"},
	"error.login":      {"Sign in", "登录"},
}

// Shell is what the layout of every page shows; each page's view model
// embeds it.
type Shell struct {
	Lang         Lang
	Title        string
	CSRF         string
	Path         string // where the language switch returns to
	Authed       bool
	Restricted   bool // signed in but must change the password first
	OperatorName string
	OperatorRole string
	RoleLabel    string
	Nav          []NavItem
	Flash        string
	FlashError   bool
	LangOpts     []Option
}

// T translates a key into the page's language.
func (s *Shell) T(key string, args ...any) string { return translate(s.Lang, key, args...) }

// NavItem is one link of the side navigation.
type NavItem = webkit.NavItem

// Option is one choice of a select or a radio group.
type Option = webkit.Option

// shell builds the layout data. rc is nil for visitors who are not
// signed in; their forms use the double-submit CSRF cookie.
func (c *Console) shell(rw http.ResponseWriter, r *http.Request, rc *reqCtx, lang Lang, title, active string) Shell {
	s := Shell{Lang: lang, Title: title, Path: consolePath(r.URL.RequestURI())}
	if r.Method != http.MethodGet {
		// After a POST the language switch returns to the page's GET form.
		s.Path = consolePath(r.URL.Path)
		if strings.HasSuffix(s.Path, "/lang") || strings.HasSuffix(s.Path, "/logout") {
			s.Path = Prefix
		}
	}
	s.LangOpts = webkit.LangOptions(lang, func(key string) string { return translate(lang, key) })
	if key, bad := c.takeFlash(rw, r); key != "" {
		s.Flash, s.FlashError = translate(lang, "flash."+key), bad
	}
	if rc == nil {
		s.CSRF = c.loginCSRF(rw, r)
		return s
	}
	o := rc.p.Operator
	s.CSRF = rc.csrf
	s.Authed = true
	s.Restricted = o.MustChangePassword
	s.OperatorName = o.Name
	s.OperatorRole = string(o.Role)
	s.RoleLabel = translateOr(lang, "role."+string(o.Role), string(o.Role))
	s.Nav = []NavItem{
		{Label: translate(lang, "nav.tenants"), Href: Prefix, Active: active == "tenants"},
		{Label: translate(lang, "nav.requests"), Href: Prefix + "/requests", Active: active == "requests"},
		{Label: translate(lang, "nav.new_request"), Href: Prefix + "/requests/new", Active: active == "new"},
	}
	return s
}

// objectLabel names an object in the page's language: the tenant's own
// label when the schema is known, the catalog's for standard objects,
// else its API name.
func objectLabel(l Lang, name, en, zh string) string {
	if l == LangZH && zh != "" {
		return zh
	}
	if l == LangEN && en != "" {
		return en
	}
	return translateOr(l, "object."+name, name)
}
