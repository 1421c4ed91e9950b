package demo

// Word pools for the generator. Everything is a slice so that generation
// never depends on map iteration order.

type pinyinWord struct{ han, pinyin string }

var zhSurnames = []pinyinWord{
	{"王", "wang"}, {"李", "li"}, {"张", "zhang"}, {"刘", "liu"}, {"陈", "chen"},
	{"杨", "yang"}, {"黄", "huang"}, {"赵", "zhao"}, {"吴", "wu"}, {"周", "zhou"},
	{"徐", "xu"}, {"孙", "sun"}, {"马", "ma"}, {"朱", "zhu"}, {"胡", "hu"},
	{"郭", "guo"}, {"何", "he"}, {"林", "lin"}, {"高", "gao"}, {"罗", "luo"},
	{"郑", "zheng"}, {"梁", "liang"}, {"谢", "xie"}, {"宋", "song"}, {"唐", "tang"},
	{"许", "xu"}, {"韩", "han"}, {"冯", "feng"}, {"邓", "deng"}, {"曹", "cao"},
	{"彭", "peng"}, {"曾", "zeng"}, {"萧", "xiao"}, {"田", "tian"}, {"董", "dong"},
	{"欧阳", "ouyang"}, {"司马", "sima"},
}

var zhGivenNames = []pinyinWord{
	{"伟", "wei"}, {"芳", "fang"}, {"娜", "na"}, {"敏", "min"}, {"静", "jing"},
	{"丽", "li"}, {"强", "qiang"}, {"磊", "lei"}, {"军", "jun"}, {"洋", "yang"},
	{"勇", "yong"}, {"艳", "yan"}, {"杰", "jie"}, {"涛", "tao"}, {"明", "ming"},
	{"超", "chao"}, {"霞", "xia"}, {"平", "ping"}, {"刚", "gang"}, {"鑫", "xin"},
	{"晓东", "xiaodong"}, {"海燕", "haiyan"}, {"子涵", "zihan"}, {"浩然", "haoran"},
	{"雨欣", "yuxin"}, {"思远", "siyuan"}, {"建国", "jianguo"}, {"志强", "zhiqiang"},
	{"秀英", "xiuying"}, {"嘉怡", "jiayi"}, {"文博", "wenbo"}, {"梓萱", "zixuan"},
	{"俊杰", "junjie"}, {"雅婷", "yating"}, {"宇航", "yuhang"}, {"欣怡", "xinyi"},
	{"国栋", "guodong"}, {"丽华", "lihua"}, {"明轩", "mingxuan"}, {"佳琪", "jiaqi"},
}

var enFirstNames = []string{
	"James", "Olivia", "William", "Emma", "Oliver", "Sophia", "Daniel", "Charlotte",
	"Henry", "Amelia", "Lucas", "Grace", "Thomas", "Chloe", "Samuel", "Hannah",
	"Benjamin", "Isabella", "Ethan", "Lily", "Michael", "Emily", "David", "Zoe",
	"Kevin", "Rachel", "Jason", "Priya", "Arjun", "Mei",
}

var enLastNames = []string{
	"Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas",
	"Roberts", "Walker", "Wright", "Thompson", "White", "Hughes", "Edwards", "Green",
	"Hall", "Wood", "Harris", "Clarke", "Lewis", "Patel", "Tan", "Lim", "Ng",
	"Wong", "Chen", "Lee", "Kumar", "Murphy",
}

// city is a place companies and people are located in.
type city struct {
	name     string // as stored in the city field
	pinyin   string // English spelling, for "(Shanghai) Co., Ltd."
	overseas bool
	area     string // long-distance code without the leading 0 (China) or the country/area prefix (overseas)
	idArea   string // first four digits of resident ID numbers issued there (China only)
	// Chinese cities: districts and streets; overseas: streets and postcodes.
	districts []string
	streets   []string
}

var zhCities = []city{
	{name: "北京", pinyin: "Beijing", area: "10", idArea: "1101",
		districts: []string{"海淀区", "朝阳区", "东城区", "西城区", "丰台区"},
		streets:   []string{"中关村大街", "建国路", "东三环中路", "金融大街", "望京街", "知春路"}},
	{name: "上海", pinyin: "Shanghai", area: "21", idArea: "3101",
		districts: []string{"浦东新区", "徐汇区", "静安区", "长宁区", "黄浦区"},
		streets:   []string{"世纪大道", "南京西路", "漕溪北路", "虹桥路", "张江路", "淮海中路"}},
	{name: "深圳", pinyin: "Shenzhen", area: "755", idArea: "4403",
		districts: []string{"南山区", "福田区", "罗湖区", "宝安区"},
		streets:   []string{"科技园南路", "深南大道", "福华三路", "海天一路", "高新南一道"}},
	{name: "杭州", pinyin: "Hangzhou", area: "571", idArea: "3301",
		districts: []string{"西湖区", "滨江区", "余杭区", "上城区"},
		streets:   []string{"文三路", "江南大道", "文一西路", "庆春路", "网商路"}},
	{name: "成都", pinyin: "Chengdu", area: "28", idArea: "5101",
		districts: []string{"武侯区", "高新区", "锦江区", "青羊区"},
		streets:   []string{"天府大道", "人民南路", "红星路", "蜀都大道", "益州大道"}},
	{name: "广州", pinyin: "Guangzhou", area: "20", idArea: "4401",
		districts: []string{"天河区", "海珠区", "越秀区"},
		streets:   []string{"天河路", "花城大道", "环市东路", "珠江东路"}},
	{name: "南京", pinyin: "Nanjing", area: "25", idArea: "3201",
		districts: []string{"鼓楼区", "建邺区", "玄武区"},
		streets:   []string{"中山路", "江东中路", "珠江路", "龙蟠路"}},
	{name: "武汉", pinyin: "Wuhan", area: "27", idArea: "4201",
		districts: []string{"洪山区", "江汉区", "武昌区"},
		streets:   []string{"珞喻路", "解放大道", "中北路", "光谷大道"}},
}

var overseasCities = []city{
	{name: "Singapore", pinyin: "Singapore", overseas: true, area: "+65 6",
		streets:   []string{"Raffles Place", "Shenton Way", "Anson Road", "Robinson Road", "Marina Boulevard", "One-North Crescent"},
		districts: []string{"048616", "068809", "079903", "068898", "018989", "138628"}},
	{name: "London", pinyin: "London", overseas: true, area: "+44 20 7",
		streets:   []string{"Bishopsgate", "Old Street", "Fenchurch Street", "Great Eastern Street", "Southwark Street", "Moorgate"},
		districts: []string{"EC2M 4AA", "EC1V 9HX", "EC3M 3BY", "EC2A 4BX", "SE1 9SG", "EC2R 6DA"}},
}

// Extra ID-number issuing areas besides the cities above.
var extraIDAreas = []string{"4301", "3702", "2101", "6101", "3502", "4101", "5001", "1301"}

var zhCompanyCores = []pinyinWord{
	{"云帆", "yunfan"}, {"锐思", "ruisi"}, {"鼎盛", "dingsheng"}, {"瀚海", "hanhai"},
	{"启明", "qiming"}, {"泰和", "taihe"}, {"恒通", "hengtong"}, {"金桥", "jinqiao"},
	{"绿洲", "lvzhou"}, {"远景", "yuanjing"}, {"博雅", "boya"}, {"天择", "tianze"},
	{"海纳", "haina"}, {"睿智", "ruizhi"}, {"新航", "xinhang"}, {"华信", "huaxin"},
	{"蓝鲸", "lanjing"}, {"星辰", "xingchen"}, {"和光", "heguang"}, {"方圆", "fangyuan"},
	{"嘉禾", "jiahe"}, {"青松", "qingsong"}, {"万象", "wanxiang"}, {"凌云", "lingyun"},
	{"安泰", "antai"}, {"德润", "derun"}, {"卓越", "zhuoyue"}, {"长风", "changfeng"},
	{"思源", "siyuan"}, {"汇通", "huitong"}, {"晨光", "chenguang"}, {"九州", "jiuzhou"},
	{"天元", "tianyuan"}, {"易达", "yida"}, {"铭泰", "mingtai"}, {"智联", "zhilian"},
}

var enCompanyCores = []string{
	"Northwind", "Bluepeak", "Meridian", "Lumen", "Crestline", "Evergreen", "Vertex",
	"Silverline", "Atlas", "Harborview", "Kestrel", "Brightwater", "Ironbridge",
	"Redwood", "Clearpath", "Summit", "Oakridge", "Pinnacle", "Granite", "Skylark",
}

type companySuffix struct {
	zh, zhShort, slug, en string
}

// industries lists the account industry picklist values with company-name
// suffixes in both languages.
var industries = []struct {
	value    string
	weight   int
	suffixes []companySuffix
}{
	{"technology", 8, []companySuffix{
		{"科技有限公司", "科技", "tech", "Technologies"},
		{"信息技术有限公司", "信息", "info", "Systems"},
		{"软件有限公司", "软件", "soft", "Software"}}},
	{"manufacturing", 6, []companySuffix{
		{"精密制造有限公司", "精密", "mfg", "Manufacturing"},
		{"机械有限公司", "机械", "machinery", "Industries"},
		{"电子有限公司", "电子", "electronics", "Components"}}},
	{"finance", 4, []companySuffix{
		{"投资管理有限公司", "投资", "invest", "Capital"},
		{"融资租赁有限公司", "租赁", "leasing", "Financial"},
		{"资产管理有限公司", "资管", "am", "Partners"}}},
	{"retail", 4, []companySuffix{
		{"商贸有限公司", "商贸", "trade", "Trading"},
		{"连锁超市有限公司", "超市", "mart", "Stores"},
		{"电子商务有限公司", "电商", "ecom", "Retail Group"}}},
	{"healthcare", 3, []companySuffix{
		{"医疗器械有限公司", "医疗", "medical", "Medical"},
		{"生物科技有限公司", "生物", "bio", "Biosciences"},
		{"健康管理有限公司", "健康", "health", "Health"}}},
	{"education", 2, []companySuffix{
		{"教育科技有限公司", "教育", "edu", "Learning"},
		{"教育咨询有限公司", "教育", "education", "Academy"}}},
	{"energy", 2, []companySuffix{
		{"新能源有限公司", "新能源", "newenergy", "Energy"},
		{"光伏科技有限公司", "光伏", "solar", "Renewables"}}},
	{"other", 2, []companySuffix{
		{"文化传媒有限公司", "传媒", "media", "Media"},
		{"物流有限公司", "物流", "logistics", "Logistics"},
		{"管理咨询有限公司", "咨询", "consulting", "Consulting"}}},
}

var industryLabels = []struct{ value, zh, en string }{
	{"technology", "科技", "technology"}, {"manufacturing", "制造", "manufacturing"},
	{"finance", "金融", "financial services"}, {"retail", "零售", "retail"},
	{"healthcare", "医疗健康", "healthcare"}, {"education", "教育", "education"},
	{"energy", "能源", "energy"}, {"other", "综合服务", "services"},
}

// Account description templates; placeholders: {industry}, {Industry}, {employees}, {reps}.
var accountDescZH = []string{
	"{industry}行业企业，员工约 {employees} 人，目前使用 Excel 和自研系统管理客户，计划年内统一到一个 CRM 平台。",
	"{industry}领域客户，销售团队约 {reps} 人，关注移动端拜访记录和审批流程。",
	"{industry}行业重点客户，总部 IT 部门主导选型，对数据安全和私有化部署要求较高。\n决策链：IT 总监 → 财务总监 → 总经理。",
	"{industry}行业客户，去年在展会上接触，已完成两轮产品演示。",
}

var accountDescEN = []string{
	"{Industry} company with about {employees} staff, consolidating three regional sales teams onto one CRM.",
	"{Industry} firm with around {reps} sales reps; main interest is pipeline reporting and mobile access.",
	"Key {industry} account. Procurement runs a formal RFP every spring.\nDecision makers: CIO and Head of Sales Operations.",
	"{Industry} business we met at a trade show last year; two product demos done so far.",
}

var titlesZH = []string{
	"总经理", "副总经理", "采购经理", "技术总监", "财务总监", "IT 经理", "市场部主管",
	"运营总监", "销售副总裁", "首席信息官", "行政主管", "客服经理", "项目经理", "董事长助理",
}

var titlesEN = []string{
	"CEO", "Managing Director", "Procurement Manager", "CTO", "CFO", "IT Manager",
	"Head of Marketing", "Operations Director", "VP Sales", "CIO", "Office Manager",
	"Customer Service Lead", "Project Manager", "Sales Operations Analyst",
}

var contactNotesZH = []string{
	"偏好微信沟通，工作日上午方便接电话。",
	"关键决策人，关注 ROI 和上线周期。",
	"技术评估负责人，需要提供 API 文档和安全白皮书。",
	"去年在行业峰会上认识，对移动端功能很感兴趣。",
	"负责预算审批，季度末比较忙。",
}

var contactNotesEN = []string{
	"Prefers e-mail; available for calls Tuesday to Thursday.",
	"Economic buyer. Cares about ROI and time to go live.",
	"Leads the technical evaluation; asked for API docs and a security whitepaper.",
	"Met at an industry conference last year; keen on the mobile app.",
	"Owns the budget; busy at quarter end.",
}

type leadSource struct {
	value  string
	weight int
	zh, en []string
}

var leadSources = []leadSource{
	{"web", 6, []string{"通过官网表单申请试用，希望了解销售漏斗功能。", "在官网下载了白皮书，留下联系方式。"},
		[]string{"Requested a trial through the website; interested in pipeline features.", "Downloaded the whitepaper from our website."}},
	{"referral", 4, []string{"由现有客户推荐，对方正在更换 CRM。", "老客户介绍，预算已批，希望尽快演示。"},
		[]string{"Referred by an existing customer who is replacing their CRM.", "Introduced by a happy customer; budget already approved."}},
	{"event", 4, []string{"在上海 SaaS 大会展位交换名片。", "参加了我们的线下沙龙，会后主动咨询报价。"},
		[]string{"Swapped cards at our booth at the SaaS Summit.", "Attended our roundtable and asked for pricing afterwards."}},
	{"advertising", 3, []string{"通过搜索广告进入落地页注册。", "朋友圈广告带来的咨询。"},
		[]string{"Signed up from a search ad landing page.", "Came in through a LinkedIn campaign."}},
	{"cold_call", 2, []string{"电话陌拜，对方表示下季度可能有需求。"},
		[]string{"Cold call; may have a need next quarter."}},
	{"partner", 2, []string{"渠道合作伙伴报备的项目线索。"},
		[]string{"Registered by a channel partner."}},
	{"other", 1, []string{"通过公众号文章留言咨询。"},
		[]string{"Reached out after reading our blog."}},
}

var leadStatuses = []struct {
	value  string
	weight int
}{
	{"new", 30}, {"contacted", 25}, {"qualified", 20}, {"unqualified", 15}, {"converted", 10},
}

var stages = []struct {
	value       string
	weight      int
	probability float64
	nextZH      []string
	nextEN      []string
}{
	{"prospecting", 6, 10, []string{"安排首次电话沟通", "发送产品介绍资料"}, []string{"Schedule discovery call", "Send product overview"}},
	{"qualification", 6, 20, []string{"确认预算和决策人", "组织需求调研会"}, []string{"Confirm budget and decision makers", "Run requirements workshop"}},
	{"proposal", 7, 50, []string{"提交方案和报价", "安排 POC 环境"}, []string{"Submit proposal and quote", "Set up proof of concept"}},
	{"negotiation", 6, 75, []string{"法务审核合同条款", "确认折扣和付款方式"}, []string{"Legal review of the contract", "Agree discount and payment terms"}},
	{"closed_won", 6, 100, []string{"交接实施团队", "安排上线启动会"}, []string{"Hand over to implementation", "Kick-off meeting"}},
	{"closed_lost", 4, 0, []string{"季度后回访", "归档并总结丢单原因"}, []string{"Check back next quarter", "Record loss reasons"}},
}

var productsZH = []string{
	"CRM 企业版年度订阅", "销售自动化实施项目", "客服中心升级", "数据迁移与系统集成",
	"200 席位扩容", "私有化部署", "培训与咨询服务", "移动端定制开发", "营销自动化模块",
}

var productsEN = []string{
	"Enterprise CRM subscription", "Sales automation rollout", "Service desk upgrade",
	"Data migration & integration", "200-seat expansion", "On-premise deployment",
	"Training & advisory", "Mobile app customization", "Marketing automation add-on",
}

var oppNotesZH = []string{
	"客户希望在财年结束前完成签约。",
	"竞争对手报价低 15%，需要突出实施服务优势。",
	"客户同时在评估另外两家供应商。",
	"预算分两期支付，首期 60%。",
}

var oppNotesEN = []string{
	"Customer wants to sign before fiscal year end.",
	"Competitor is 15% cheaper; emphasise implementation services.",
	"Customer is also evaluating two other vendors.",
	"Budget split into two payments, 60% up front.",
}

var activityTypes = []struct {
	value  string
	weight int
}{
	{"call", 8}, {"meeting", 6}, {"email", 6}, {"task", 5}, {"visit", 5},
}

var activityNotesZH = []string{
	"客户提出需要与现有 ERP 对接，下次沟通带上技术同事。",
	"已发送报价单，等待客户内部审批。",
	"讨论了上线时间表，客户倾向于分阶段实施。",
	"对方临时改期，已重新约时间。",
	"",
}

var activityNotesEN = []string{
	"They need an ERP integration; bring a solutions engineer next time.",
	"Quote sent, waiting for internal approval.",
	"Discussed the rollout timeline; they prefer a phased approach.",
	"Rescheduled at the customer's request.",
	"",
}
