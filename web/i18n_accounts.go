package web

func init() {
	for k, v := range accountsCatalog {
		catalog[k] = v
	}
}

var accountsCatalog = map[string][2]string{
	"account.profile":         {"Profile", "资料"},
	"account.sessions":        {"Signed-in sessions", "登录会话"},
	"account.sessions_hint":   {"Every browser or app signed in as this user. Ending a session signs it out at its next request.", "以该用户身份登录的每个浏览器或应用。结束会话后，它在下一次请求时即被登出。"},
	"account.no_sessions":     {"No live sessions.", "没有有效会话。"},
	"account.started":         {"Signed in", "登录时间"},
	"account.last_seen":       {"Last active", "最近活动"},
	"account.ip":              {"IP address", "IP 地址"},
	"account.device":          {"Browser or app", "浏览器或应用"},
	"account.this_session":    {"This session", "当前会话"},
	"account.end":             {"End", "结束"},
	"account.end_q":           {"Sign this session out now?", "立即登出该会话？"},
	"account.end_yes":         {"End session", "结束会话"},
	"account.offboard":        {"Offboard", "离职交接"},
	"account.offboard_hint":   {"For someone leaving: deactivates the user, ends all their sessions and gives every record they own to the person you choose — in one step, recorded in the audit log.", "用于离职人员：停用该用户、结束其全部会话，并把其名下所有记录移交给您选择的人——一步完成，并记入审计日志。"},
	"account.offboard_to":     {"Give their records to", "记录移交给"},
	"account.offboard_q":      {"Deactivate %s and transfer all their records?", "停用 %s 并移交其全部记录？"},
	"account.offboard_yes":    {"Offboard now", "立即交接"},
	"account.offboard_failed": {"Offboarding did not happen: choose another active user (the tenant must also keep an admin).", "交接未执行：请选择另一位在职用户（组织中还必须保留一位管理员）。"},
	"account.manage":          {"Manage", "管理"},
	"account.my_account":      {"My account", "我的账户"},
	"flash.session_revoked":   {"Session ended.", "会话已结束。"},
	"flash.offboarded":        {"User offboarded: deactivated, signed out, records transferred.", "已完成离职交接：用户已停用、已登出，记录已移交。"},
	"flash.offboard_failed":   {"Offboarding failed.", "离职交接失败。"},
}
