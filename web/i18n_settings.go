package web

// Strings of the security settings page and of the password rules, in
// English and Simplified Chinese.
func init() {
	for k, v := range settingsCatalog {
		catalog[k] = v
	}
}

var settingsCatalog = map[string][2]string{
	"nav.settings":         {"Security settings", "安全设置"},
	"flash.settings_saved": {"Security settings saved.", "安全设置已保存。"},

	"settings.title":         {"Security settings", "安全设置"},
	"settings.subtitle":      {"Password policy, lockout, sessions and sign-in restrictions for everyone in your organization. Every change is recorded in the audit log.", "适用于本组织所有成员的密码策略、账号锁定、会话及登录限制。每次修改都会记录在审计日志中。"},
	"settings.errors":        {"Some values are not valid; see the fields below.", "部分设置无效，请查看下方各项。"},
	"settings.save":          {"Save settings", "保存设置"},
	"settings.reset":         {"Discard changes", "放弃修改"},
	"settings.preset":        {"Preset", "预设方案"},
	"settings.preset_hint":   {"A preset sets every value below; choose Custom to set your own.", "选择预设方案后，下方各项均按该方案设置；如需自行设置，请选择“自定义”。"},
	"settings.preset.mlps3":  {"China MLPS level 3 (等保三级)", "等保三级"},
	"settings.preset.nist":   {"NIST SP 800-63B", "NIST SP 800-63B"},
	"settings.preset.custom": {"Custom", "自定义"},

	"settings.group.password": {"Passwords", "密码"},
	"settings.group.lockout":  {"Failed sign-ins", "登录失败处理"},
	"settings.group.sessions": {"Sessions", "会话"},
	"settings.group.access":   {"Sign-in restrictions", "登录限制"},

	"settings.password_min_length":        {"Minimum length", "最短长度"},
	"settings.password_min_length.hint":   {"Characters, 8 to 64.", "字符数，8 至 64。"},
	"settings.password_max_length":        {"Maximum length", "最大长度"},
	"settings.password_max_length.hint":   {"Characters, 64 to 128.", "字符数，64 至 128。"},
	"settings.password_classes":           {"Character kinds required", "必须包含的字符种类数"},
	"settings.password_classes.hint":      {"How many of: lower-case letters, upper-case letters, digits, symbols (0 to 4).", "小写字母、大写字母、数字、符号中至少包含几类（0 至 4）。"},
	"settings.password_expiry_days":       {"Password expiry (days)", "密码有效期（天）"},
	"settings.password_expiry_days.hint":  {"Users must choose a new password after this many days; 0 never.", "超过该天数后用户必须设置新密码；0 表示永不过期。"},
	"settings.password_history":           {"Password history", "密码历史"},
	"settings.password_history.hint":      {"How many earlier passwords may not be reused (0 to 24).", "不得重复使用的历史密码个数（0 至 24）。"},
	"settings.password_check_common":      {"Reject common passwords", "禁止使用常见密码"},
	"settings.password_check_common.hint": {"Checked against a list of over 160,000 passwords known from leaks.", "与泄露数据中已知的 16 万余个常见密码比对。"},
	"settings.lockout_threshold":          {"Lock after failed sign-ins", "连续失败多少次后锁定"},
	"settings.lockout_threshold.hint":     {"0 never locks.", "0 表示不锁定。"},
	"settings.lockout_minutes":            {"Lock duration (minutes)", "锁定时长（分钟）"},
	"settings.lockout_minutes.hint":       {"0 keeps the account locked until an admin unlocks it.", "0 表示锁定直至管理员解锁。"},
	"settings.captcha_after":              {"CAPTCHA after failed sign-ins", "失败多少次后要求验证码"},
	"settings.captcha_after.hint":         {"Per account; must be below the lock threshold.", "按账号计算；必须小于锁定次数。"},
	"settings.ip_captcha_after":           {"CAPTCHA after failures from one IP address", "同一 IP 失败多少次后要求验证码"},
	"settings.ip_captcha_after.hint":      {"Failed sign-ins across all accounts within an hour.", "一小时内针对所有账号的失败次数。"},
	"settings.session_idle_minutes":       {"Idle timeout (minutes)", "空闲超时（分钟）"},
	"settings.session_idle_minutes.hint":  {"A session ends after this long without activity.", "会话无操作超过该时长后结束。"},
	"settings.session_max_hours":          {"Maximum session length (hours)", "会话最长时长（小时）"},
	"settings.session_max_hours.hint":     {"A session ends after this long, active or not.", "无论是否活动，会话到期后结束。"},
	"settings.max_sessions":               {"Concurrent sessions per user", "每个用户的并发会话数"},
	"settings.max_sessions.hint":          {"0 is unlimited.", "0 表示不限。"},
	"settings.mfa_required":               {"Require two-factor authentication", "强制双因素认证"},
	"settings.mfa_required.hint":          {"Every user signs in with an authenticator app code.", "所有用户登录时需输入验证器应用中的动态码。"},
	"settings.login_ip_ranges":            {"Allowed sign-in networks", "允许登录的网络"},
	"settings.login_ip_ranges.hint":       {"CIDR ranges, one a line, e.g. 203.0.113.0/24; empty allows sign-in from anywhere.", "CIDR 网段，每行一个，例如 203.0.113.0/24；留空表示不限制。"},

	"settings.err.between": {"Must be between %s and %s.", "必须介于 %s 和 %s 之间。"},
	"settings.err.cidr":    {"%s is not a CIDR range like 203.0.113.0/24.", "%s 不是有效的 CIDR 网段（例如 203.0.113.0/24）。"},
	"settings.err.number":  {"Enter a whole number.", "请输入整数。"},
	"settings.err.preset":  {"Choose a preset.", "请选择预设方案。"},
	"settings.err.ranges":  {"At most 100 ranges.", "最多 100 个网段。"},
	"settings.err.idle":    {"Must not exceed the maximum session length.", "不得超过会话最长时长。"},
	"settings.err.captcha": {"Must be below the lock threshold, so that a CAPTCHA is asked before the account locks.", "必须小于锁定次数，以便在锁定前先要求验证码。"},

	// Password page and the live rules.
	"password.expired": {"Your password has expired. Choose a new password before you continue.", "您的密码已过期，继续之前请先设置新密码。"},
	"pwrule.length":    {"%d to %d characters", "%d 至 %d 个字符"},
	"pwrule.classes":   {"At least %d of: lower-case letters, upper-case letters, digits, symbols", "至少包含小写字母、大写字母、数字、符号中的 %d 类"},
	"pwrule.identity":  {"Does not contain your login or name", "不包含您的账号或姓名"},
	"pwrule.match":     {"Both new passwords match", "两次输入的新密码一致"},
	"pwrule.common":    {"Not a commonly used password (checked when you submit)", "不是常见密码（提交时检查）"},
	"pwrule.history":   {"Not your current password or one of your last %d (checked when you submit)", "不能是当前密码或最近 %d 次用过的密码（提交时检查）"},
	"pwrule.current":   {"Not your current password (checked when you submit)", "不能是当前密码（提交时检查）"},
	"pwrule.met":       {"satisfied", "已满足"},
	"pwrule.unmet":     {"not satisfied yet", "尚未满足"},

	"violation.min_length":     {"At least %d characters.", "至少 %d 个字符。"},
	"violation.max_length":     {"At most %d characters.", "最多 %d 个字符。"},
	"violation.max_bytes":      {"At most %d bytes.", "最多 %d 字节。"},
	"violation.invalid_text":   {"Only valid text, without control characters.", "只能包含有效的文本字符，不能包含控制字符。"},
	"violation.classes":        {"At least %d of these kinds of character: lower-case letters, upper-case letters, digits, symbols.", "至少包含小写字母、大写字母、数字、符号中的 %d 类。"},
	"violation.contains_login": {"Must not contain your login.", "不得包含您的账号。"},
	"violation.contains_name":  {"Must not contain your name.", "不得包含您的姓名。"},
	"violation.common":         {"This password is too common; choose one that is harder to guess.", "该密码过于常见，请选择更难猜测的密码。"},
	"violation.reused":         {"Must differ from your current password and your last %d passwords.", "不得与当前密码及最近 %d 次用过的密码相同。"},
	"violation.reused_current": {"Must differ from your current password.", "不得与当前密码相同。"},
}
