package web

import (
	"net/http"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/internal/webkit"
)

// Lang is a UI language; the tenant UI and the operator console share
// the type and the negotiation (internal/webkit), each with its own
// catalog.
type Lang = webkit.Lang

// The supported languages.
const (
	LangEN = webkit.LangEN
	LangZH = webkit.LangZH
)

func parseLangTag(s string) (Lang, bool) { return webkit.ParseLangTag(s) }

// requestLang picks the language: the lang cookie, then the best supported
// Accept-Language entry, then English.
func requestLang(r *http.Request) Lang { return webkit.RequestLang(r) }

func acceptLanguage(header string) Lang { return webkit.AcceptLanguage(header) }

// translate returns the message for key in lang; a missing key renders
// visibly so tests catch it.
func translate(l Lang, key string, args ...any) string {
	return webkit.Translate(catalog, l, key, args...)
}

// translateOr translates key, or returns fallback for keys the catalog
// does not know (e.g. a role added later).
func translateOr(l Lang, key, fallback string) string {
	return webkit.TranslateOr(catalog, l, key, fallback)
}

// catalog holds every UI string: key → {English, Simplified Chinese}.
var catalog = map[string][2]string{
	// Shell and navigation.
	"app.name":           {"Haven", "Haven"},
	"a11y.skip":          {"Skip to content", "跳到正文"},
	"a11y.breadcrumb":    {"Breadcrumb", "当前位置"},
	"nav.main":           {"Main navigation", "主导航"},
	"nav.home":           {"Home", "首页"},
	"nav.records":        {"Records", "业务数据"},
	"nav.admin":          {"Administration", "管理"},
	"nav.users":          {"Users", "用户"},
	"nav.audit":          {"Audit log", "审计日志"},
	"nav.logout":         {"Sign out", "退出登录"},
	"nav.language":       {"Language", "语言"},
	"nav.signed_in":      {"Signed in as", "当前用户"},
	"lang.en":            {"English", "English"},
	"lang.zh":            {"中文", "中文"},
	"footer.tz":          {"Times are shown in UTC.", "时间均为北京时间 (UTC+8)。"},
	"footer.promise":     {"Your data stays yours: every change and sign-in is recorded in your audit log.", "您的数据只属于您：每一次变更和登录都记录在您的审计日志中。"},
	"role.admin":         {"Admin", "管理员"},
	"role.manager":       {"Manager", "经理"},
	"role.sales":         {"Sales", "销售"},
	"status.active":      {"Active", "启用"},
	"status.deactivated": {"Deactivated", "已停用"},

	// Login.
	"login.title":       {"Sign in", "登录"},
	"login.heading":     {"Sign in to Haven", "登录 Haven"},
	"login.subtitle":    {"The CRM where your customers' data stays yours.", "客户数据始终归您所有的 CRM。"},
	"login.tenant":      {"Organization", "组织标识"},
	"login.tenant_hint": {"The short name of your company's workspace, e.g. acme.", "贵公司工作区的简称，例如 acme。"},
	"login.login":       {"E-mail or phone", "邮箱或手机号"},
	"login.password":    {"Password", "密码"},
	"login.submit":      {"Sign in", "登录"},
	"login.invalid":     {"The organization, login or password is incorrect.", "组织标识、账号或密码不正确。"},
	"login.missing":     {"Please fill in the organization, login and password.", "请填写组织标识、账号和密码。"},
	"login.locked":      {"This account is temporarily locked. Try again later or ask your administrator.", "该账号已被暂时锁定，请稍后再试或联系管理员。"},
	"login.rate":        {"Too many attempts. Please wait a moment and try again.", "尝试次数过多，请稍候再试。"},
	"login.extra":       {"Enter your password again together with the code from your authenticator app.", "请重新输入密码，并填写身份验证器应用中的验证码。"},
	"login.secure_note": {"Haven never asks for your password by e-mail or phone.", "Haven 绝不会通过邮件或电话索要您的密码。"},

	// Password change.
	"password.title":    {"Change password", "修改密码"},
	"password.forced":   {"You signed in with a one-time password. Choose a new password before you continue.", "您使用一次性密码登录，继续之前请先设置新密码。"},
	"password.intro":    {"Changing your password signs you out everywhere else.", "修改密码后，您在其他设备上的会话将全部退出。"},
	"password.current":  {"Current password", "当前密码"},
	"password.new":      {"New password", "新密码"},
	"password.confirm":  {"Confirm new password", "确认新密码"},
	"password.rules":    {"At least 8 characters, and not containing your login or name.", "至少 8 个字符，且不得包含您的账号或姓名。"},
	"password.submit":   {"Change password", "修改密码"},
	"password.mismatch": {"The two new passwords do not match.", "两次输入的新密码不一致。"},
	"password.wrong":    {"The current password is incorrect.", "当前密码不正确。"},
	"password.required": {"This field is required.", "此项为必填。"},
	"password.policy":   {"The new password does not meet the password policy:", "新密码不符合密码策略："},

	// Flash messages.
	"flash.saved":             {"Saved.", "已保存。"},
	"flash.created":           {"Record created.", "记录已创建。"},
	"flash.deleted":           {"Record deleted.", "记录已删除。"},
	"flash.password_changed":  {"Your password was changed.", "密码已修改。"},
	"flash.signed_out":        {"You have signed out.", "您已退出登录。"},
	"flash.session_ended":     {"Your session has ended. Please sign in again.", "您的会话已结束，请重新登录。"},
	"flash.user_deactivated":  {"The user was deactivated and all of their sessions were ended.", "该用户已停用，其所有会话已结束。"},
	"flash.deactivate_failed": {"This user cannot be deactivated: you cannot deactivate yourself or the last active admin.", "无法停用该用户：不能停用自己或最后一位启用的管理员。"},
	"flash.delete_conflict":   {"The record was changed by someone else, so it was not deleted. Review the latest version and try again.", "该记录已被他人修改，因此未删除。请查看最新版本后重试。"},

	// Home.
	"home.title":        {"Home", "首页"},
	"home.welcome":      {"Welcome back, %s", "欢迎回来，%s"},
	"home.subtitle":     {"Jump to your records or pick up where you left off.", "快速进入业务数据，或继续上次的工作。"},
	"home.quick":        {"Quick access", "快速入口"},
	"home.view_all":     {"View all", "查看全部"},
	"home.recent":       {"Your recently updated %s", "您最近更新的%s"},
	"home.recent_empty": {"Nothing here yet.", "暂无记录。"},

	// Lists.
	"list.search":          {"Search", "搜索"},
	"list.search_label":    {"Search by name", "按名称搜索"},
	"list.search_ph":       {"Search by name…", "按名称搜索…"},
	"list.clear":           {"Clear", "清除"},
	"list.new":             {"New", "新建"},
	"list.next":            {"Next page", "下一页"},
	"list.first":           {"First page", "第一页"},
	"list.pagination":      {"Pagination", "分页"},
	"list.empty":           {"No records yet.", "暂无记录。"},
	"list.empty_search":    {"No records match “%s”.", "没有与“%s”匹配的记录。"},
	"list.showing":         {"%d records on this page", "本页 %d 条记录"},
	"list.showing_one":     {"1 record on this page", "本页 1 条记录"},
	"list.updated":         {"Updated", "更新时间"},
	"list.created":         {"Created", "创建时间"},
	"list.sort_asc":        {"sorted ascending", "升序"},
	"list.sort_desc":       {"sorted descending", "降序"},
	"list.bad_cursor":      {"That page link is out of date; showing the first page.", "分页链接已失效，已显示第一页。"},
	"list.bad_query":       {"The search could not be run: %s", "无法执行搜索：%s"},
	"list.search_too_long": {"the search text is too long.", "搜索内容过长。"},
	"record.no_name":       {"(no name)", "（未命名）"},

	// Detail.
	"detail.edit":           {"Edit", "编辑"},
	"detail.delete":         {"Delete", "删除"},
	"detail.delete_confirm": {"Delete “%s”? The deletion is recorded in the audit log with all of its values.", "确定删除“%s”？删除操作及其全部字段值将记录在审计日志中。"},
	"detail.delete_yes":     {"Yes, delete", "确认删除"},
	"detail.details":        {"Details", "详细信息"},
	"detail.system":         {"Record information", "记录信息"},
	"detail.owner":          {"Owner", "负责人"},
	"detail.created":        {"Created", "创建时间"},
	"detail.updated":        {"Last updated", "最后更新"},
	"detail.version":        {"Version", "版本"},
	"detail.history":        {"History", "变更历史"},
	"detail.history_empty":  {"No changes recorded.", "暂无变更记录。"},
	"detail.history_older":  {"Older changes", "更早的变更"},
	"detail.history_newest": {"Newest changes", "最新变更"},
	"detail.back":           {"Back to list", "返回列表"},
	"history.by":            {"by %s", "操作人：%s"},
	"history.field":         {"Field", "字段"},
	"history.before":        {"Before", "修改前"},
	"history.after":         {"After", "修改后"},

	// Forms.
	"form.new_title":       {"New %s", "新建%s"},
	"form.edit_title":      {"Edit %s", "编辑%s"},
	"form.save":            {"Save", "保存"},
	"form.create":          {"Create", "创建"},
	"form.cancel":          {"Cancel", "取消"},
	"form.required":        {"required", "必填"},
	"form.choose":          {"— Select —", "— 请选择 —"},
	"form.none":            {"— None —", "— 无 —"},
	"form.errors":          {"Please correct the highlighted fields.", "请修正标出的字段。"},
	"form.conflict":        {"Someone else changed this record after you opened it, so your changes were not saved.", "您打开此记录后，他人已修改了它，因此您的修改未保存。"},
	"form.conflict_reload": {"Load the latest version", "加载最新版本"},
	"form.conflict_hint":   {"Your input is kept below so you can copy it.", "您的输入保留在下方，便于复制。"},
	"form.tz_hint":         {"Time in UTC", "北京时间 (UTC+8)"},
	"form.owner":           {"Owner", "负责人"},
	"form.owner_invalid":   {"Choose an active user.", "请选择一位启用的用户。"},
	"form.general_error":   {"The record could not be saved: %s", "无法保存记录：%s"},
	"form.forbidden":       {"You do not have permission to do this.", "您没有执行此操作的权限。"},

	// Users.
	"users.title":          {"Users", "用户"},
	"users.subtitle":       {"Everyone who can sign in to this organization. There are no hidden accounts.", "可以登录本组织的所有人员。不存在任何隐藏账号。"},
	"users.name":           {"Name", "姓名"},
	"users.login":          {"Login", "登录账号"},
	"users.email":          {"E-mail", "邮箱"},
	"users.phone":          {"Phone", "手机号"},
	"users.role":           {"Role", "角色"},
	"users.status":         {"Status", "状态"},
	"users.last_login":     {"Last sign-in", "最近登录"},
	"users.never":          {"Never", "从未登录"},
	"users.actions":        {"Actions", "操作"},
	"users.you":            {"You", "您本人"},
	"users.must_change":    {"Must change password", "需修改密码"},
	"users.new":            {"Add a user", "添加用户"},
	"users.new_hint":       {"The new user gets a one-time password that must be changed at first sign-in. Give an e-mail address, a phone number, or both.", "新用户将获得一个一次性密码，首次登录时必须修改。请填写邮箱或手机号（或两者）。"},
	"users.create":         {"Create user", "创建用户"},
	"users.deactivate":     {"Deactivate", "停用"},
	"users.deactivate_q":   {"Deactivate %s? They are signed out everywhere at once and can no longer sign in.", "确定停用 %s？该用户将立即在所有设备上退出，且无法再登录。"},
	"users.deactivate_yes": {"Yes, deactivate", "确认停用"},
	"users.reset":          {"Reset password", "重置密码"},
	"users.reset_q":        {"Give %s a new one-time password? Their current password stops working and their sessions end.", "确定为 %s 生成新的一次性密码？其当前密码将失效，所有会话将结束。"},
	"users.reset_yes":      {"Yes, reset", "确认重置"},
	"users.next":           {"Next page", "下一页"},
	"users.first":          {"First page", "第一页"},
	"users.conflict":       {"Another user already has this e-mail address or phone number.", "已有其他用户使用此邮箱或手机号。"},

	// One-time password display.
	"secret.created_title": {"User created", "用户已创建"},
	"secret.reset_title":   {"Password reset", "密码已重置"},
	"secret.created":       {"%s can now sign in with the one-time password below.", "%s 现在可以使用下面的一次性密码登录。"},
	"secret.reset":         {"%s has a new one-time password.", "已为 %s 生成新的一次性密码。"},
	"secret.otp":           {"One-time password", "一次性密码"},
	"secret.login":         {"Login", "登录账号"},
	"secret.tenant":        {"Organization", "组织标识"},
	"secret.warning":       {"This password is shown only once. Haven does not store it and cannot show it again. Hand it over through a secure channel; the user must change it at first sign-in.", "此密码仅显示一次。Haven 不保存明文，无法再次显示。请通过安全渠道交给用户；用户首次登录时必须修改。"},
	"secret.done":          {"Back to users", "返回用户列表"},

	// Audit.
	"audit.title":                  {"Audit log", "审计日志"},
	"audit.subtitle":               {"Every change, sign-in and sign-out in this organization, newest first. Entries are only ever added, never changed.", "本组织的所有变更、登录和退出，按时间倒序排列。日志只会追加，从不修改。"},
	"audit.from":                   {"From", "开始日期"},
	"audit.to":                     {"To", "结束日期"},
	"audit.user":                   {"User", "用户"},
	"audit.action":                 {"Action", "操作"},
	"audit.object":                 {"Object type", "对象类型"},
	"audit.any":                    {"Any", "全部"},
	"audit.filter":                 {"Filter", "筛选"},
	"audit.reset":                  {"Reset", "重置"},
	"audit.time":                   {"Time", "时间"},
	"audit.actor":                  {"Actor", "操作人"},
	"audit.target":                 {"Object", "对象"},
	"audit.ip":                     {"IP address", "IP 地址"},
	"audit.changes":                {"Changes", "变更内容"},
	"audit.older":                  {"Older events", "更早的事件"},
	"audit.newest":                 {"Newest events", "最新事件"},
	"audit.empty":                  {"No events match these filters.", "没有符合筛选条件的事件。"},
	"audit.more":                   {"+%d more", "另有 %d 项"},
	"audit.bad_date":               {"Dates must look like 2026-01-31; the invalid date was ignored.", "日期格式应为 2026-01-31，无效日期已忽略。"},
	"audit.bad_range":              {"The end date must not be before the start date.", "结束日期不能早于开始日期。"},
	"audit.system":                 {"System", "系统"},
	"audit.unknown_actor":          {"Unknown user", "未知用户"},
	"reason.unknown login":         {"Unknown login", "账号不存在"},
	"reason.wrong password":        {"Wrong password", "密码错误"},
	"reason.user deactivated":      {"User deactivated", "用户已停用"},
	"ufield.tenant.name":           {"Name", "名称"},
	"ufield.field.type":            {"Field type", "字段类型"},
	"audit.empty_value":            {"(empty)", "（空）"},
	"action.auth.login":            {"Signed in", "登录"},
	"action.auth.login_failed":     {"Sign-in failed", "登录失败"},
	"action.auth.logout":           {"Signed out", "退出登录"},
	"action.auth.password_changed": {"Password changed", "修改密码"},
	"action.user.create":           {"User created", "创建用户"},
	"action.user.update":           {"User updated", "更新用户"},
	"action.user.deactivate":       {"User deactivated", "停用用户"},
	"action.user.reset_password":   {"Password reset", "重置密码"},
	"action.tenant.create":         {"Organization created", "创建组织"},
	"action.field.create":          {"Field added", "新增字段"},
	"action.record.create":         {"Record created", "创建记录"},
	"action.record.update":         {"Record updated", "更新记录"},
	"action.record.delete":         {"Record deleted", "删除记录"},
	"objtype.user":                 {"User", "用户"},
	"objtype.field":                {"Field", "字段"},
	"objtype.tenant":               {"Organization", "组织"},
	"ufield.name":                  {"Name", "姓名"},
	"ufield.email":                 {"E-mail", "邮箱"},
	"ufield.phone":                 {"Phone", "手机号"},
	"ufield.role":                  {"Role", "角色"},
	"ufield.status":                {"Status", "状态"},
	"ufield.reason":                {"Reason", "原因"},
	"ufield.sessions_revoked":      {"Sessions ended", "结束的会话数"},
	"ufield.type":                  {"Type", "类型"},
	"ufield.required":              {"Required", "必填"},
	"ufield.owner_id":              {"Owner", "负责人"},
	"ufield.slug":                  {"Short name", "组织标识"},
	"history.value":                {"Value", "值"},

	// Values.
	"value.yes":   {"Yes", "是"},
	"value.no":    {"No", "否"},
	"value.empty": {"—", "—"},

	// Errors.
	"error.title":      {"Error", "错误"},
	"error.404.title":  {"Page not found", "页面不存在"},
	"error.404.text":   {"This page or record does not exist, or you do not have access to it.", "该页面或记录不存在，或您无权访问。"},
	"error.403.title":  {"Access denied", "没有权限"},
	"error.403.text":   {"You do not have permission to open this page. Ask your administrator if you need access.", "您没有权限访问此页面。如需访问，请联系管理员。"},
	"error.csrf.title": {"Request blocked", "请求已被拦截"},
	"error.csrf.text":  {"This form was not accepted because it did not come from Haven or it has expired. Go back, reload the page and try again.", "此表单未被接受：它并非来自 Haven 或已过期。请返回并刷新页面后重试。"},
	"error.400.title":  {"Invalid request", "请求无效"},
	"error.400.text":   {"The request could not be understood.", "无法处理此请求。"},
	"error.409.title":  {"Conflict", "冲突"},
	"error.409.text":   {"The request conflicts with the current state. Reload and try again.", "请求与当前状态冲突，请刷新后重试。"},
	"error.413.title":  {"Too much data", "提交的数据过多"},
	"error.413.text":   {"The form you sent is larger than the server accepts.", "提交的表单超过了服务器允许的大小。"},
	"error.500.title":  {"Something went wrong", "出现了问题"},
	"error.500.text":   {"An unexpected error occurred. If it persists, contact support and quote this request ID:", "发生了意外错误。如果问题持续，请联系技术支持并提供以下请求 ID："},
	"error.request_id": {"Request ID", "请求 ID"},
	"error.home":       {"Go to the home page", "返回首页"},
	"error.back_login": {"Go to sign-in", "前往登录"},
}

// optionLabels are display labels of the standard picklist values.
var optionLabels = map[string][2]string{
	"technology": {"Technology", "科技"}, "manufacturing": {"Manufacturing", "制造"}, "finance": {"Finance", "金融"},
	"retail": {"Retail", "零售"}, "healthcare": {"Healthcare", "医疗"}, "education": {"Education", "教育"},
	"energy": {"Energy", "能源"}, "other": {"Other", "其他"},
	"prospect": {"Prospect", "潜在客户"}, "customer": {"Customer", "客户"}, "partner": {"Partner", "合作伙伴"},
	"competitor": {"Competitor", "竞争对手"},
	"web":        {"Web", "网站"}, "referral": {"Referral", "转介绍"}, "event": {"Event", "活动"},
	"advertising": {"Advertising", "广告"}, "cold_call": {"Cold call", "陌生拜访"},
	"new": {"New", "新线索"}, "contacted": {"Contacted", "已联系"}, "qualified": {"Qualified", "已确认"},
	"unqualified": {"Unqualified", "不合格"}, "converted": {"Converted", "已转化"},
	"prospecting": {"Prospecting", "初步接洽"}, "qualification": {"Qualification", "需求确认"}, "proposal": {"Proposal", "方案报价"},
	"negotiation": {"Negotiation", "商务谈判"}, "closed_won": {"Closed won", "赢单"}, "closed_lost": {"Closed lost", "输单"},
	"call": {"Call", "电话"}, "meeting": {"Meeting", "会议"}, "email": {"E-mail", "邮件"}, "task": {"Task", "任务"},
	"visit": {"Visit", "拜访"},
}

var machineWord = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// optionLabel is the label of a picklist value: a known translation, a
// humanised machine word in English, or the value itself.
func optionLabel(l Lang, v string) string {
	if m, ok := optionLabels[v]; ok {
		if l == LangZH {
			return m[1]
		}
		return m[0]
	}
	if l == LangEN && machineWord.MatchString(v) {
		s := strings.ReplaceAll(v, "_", " ")
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	}
	return v
}

// Validation messages produced by the domain services, with their
// display forms. Unknown messages are shown as they are.
var fieldMessages = map[string][2]string{
	"is required":                          {"This field is required.", "此项为必填。"},
	"required":                             {"This field is required.", "此项为必填。"},
	"unknown field":                        {"This field does not exist.", "该字段不存在。"},
	"must be a string":                     {"Enter text.", "请输入文本。"},
	"must be a number":                     {"Enter a number.", "请输入数字。"},
	"must be true or false":                {"Choose yes or no.", "请选择是或否。"},
	"is too large":                         {"The number is too large.", "数值过大。"},
	"must have at most two decimal places": {"Use at most two decimal places.", "最多保留两位小数。"},
	"must be valid UTF-8":                  {"The text contains invalid characters.", "文本包含无效字符。"},
	"must not contain control characters":  {"The text contains invalid characters.", "文本包含无效字符。"},
	"must be a single line":                {"Enter a single line.", "请输入单行文本。"},
	"must be an e-mail address like name@example.com":                        {"Enter an e-mail address like name@example.com.", "请输入有效的邮箱地址，例如 name@example.com。"},
	"must be a phone number (digits, spaces, dashes, an optional leading +)": {"Enter a phone number (digits, spaces, dashes, an optional leading +).", "请输入有效的电话号码（数字、空格、短横线，可以 + 开头）。"},
	"must be an http or https address":                                       {"Enter a web address starting with http:// or https://.", "请输入以 http:// 或 https:// 开头的网址。"},
	"must be a date like 2026-01-31":                                         {"Enter a date like 2026-01-31.", "请输入日期，例如 2026-01-31。"},
	"must be a date and time like 2026-01-31T09:30:00+08:00":                 {"Enter a date and time.", "请输入日期和时间。"},
	"not a valid e-mail address":                                             {"Enter a valid e-mail address.", "请输入有效的邮箱地址。"},
	"not a valid phone number":                                               {"Enter a valid phone number.", "请输入有效的手机号。"},
	"required, at most 100 characters":                                       {"Required, at most 100 characters.", "必填，最多 100 个字符。"},
	"an e-mail address or a phone number is required":                        {"Give an e-mail address or a phone number.", "请填写邮箱或手机号。"},
	"at least 8 characters":                                                  {"At least 8 characters.", "至少 8 个字符。"},
	"valid UTF-8 text":                                                       {"Only valid text characters.", "只能包含有效的文本字符。"},
	"must not contain your login or name":                                    {"Must not contain your login or name.", "不得包含您的账号或姓名。"},
	"must differ from the current password":                                  {"Must differ from the current password.", "必须与当前密码不同。"},
}

var (
	reAtMostChars = regexp.MustCompile(`^must be at most (\d+) characters$`)
	reAtMostBytes = regexp.MustCompile(`^at most (\d+) bytes$`)
	reNoSuch      = regexp.MustCompile(`^(?:no such|must be the id of a) ([a-z_]+)$`)
)

// fieldMessage turns a validation message from a service into the UI's
// language.
func fieldMessage(l Lang, msg string) string {
	if m, ok := fieldMessages[msg]; ok {
		if l == LangZH {
			return m[1]
		}
		return m[0]
	}
	if g := reAtMostChars.FindStringSubmatch(msg); g != nil {
		if l == LangZH {
			return "最多 " + g[1] + " 个字符。"
		}
		return "At most " + g[1] + " characters."
	}
	if g := reAtMostBytes.FindStringSubmatch(msg); g != nil {
		if l == LangZH {
			return "最多 " + g[1] + " 字节。"
		}
		return "At most " + g[1] + " bytes."
	}
	if reNoSuch.MatchString(msg) {
		if l == LangZH {
			return "所选记录不存在或无权访问。"
		}
		return "The selected record does not exist or is not accessible."
	}
	if rest, ok := strings.CutPrefix(msg, "must be one of"); ok {
		rest = strings.TrimLeft(rest, ": ")
		if l == LangZH {
			return "请从以下选项中选择：" + rest
		}
		return "Choose one of: " + rest
	}
	if msg == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(msg)
	return string(unicode.ToUpper(r)) + msg[n:]
}
