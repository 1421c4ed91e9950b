// Package demo produces deterministic, realistic sample data (accounts,
// contacts, leads, opportunities and activities, in Chinese and English) for
// a demo tenant.
//
// All personal data is fictitious. Resident ID numbers carry a valid
// ISO 7064 MOD 11-2 check digit but use county codes ending in "99", which
// are not allocated, so they cannot belong to a real person; bank account
// numbers are Luhn-valid and start with "6299". E-mail addresses and
// websites live under example.com.
package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sample is one record to create. Fields holds JSON-compatible values keyed by field name
// (string for text/textarea/email/phone/url/picklist/date("2006-01-02")/datetime (RFC 3339, UTC)),
// float64 for number/currency, bool for boolean). Lookup fields are NOT in Fields: Lookups maps a
// lookup field name (e.g. "account_id") to the Key of another Sample that must be created earlier.
type Sample struct {
	Object  string
	Key     string // unique within the data set, e.g. "account-7"
	Owner   string // "admin", "manager", "sales1" or "sales2": which demo user owns it
	Fields  map[string]any
	Lookups map[string]string
}

// User is a demo user to create besides the tenant admin.
type User struct{ Key, Name, Email, Phone, Role string } // Role: "manager" or "sales"

// Users returns the demo users: one manager and two sales users (keys "manager", "sales1", "sales2"), with e-mails @demo.example.com.
func Users() []User {
	return []User{
		{Key: "manager", Name: "陈静", Email: "manager@demo.example.com", Phone: "13911082736", Role: "manager"},
		{Key: "sales1", Name: "王磊", Email: "sales1@demo.example.com", Phone: "13820465193", Role: "sales"},
		{Key: "sales2", Name: "Emily Zhang", Email: "sales2@demo.example.com", Phone: "18621349075", Role: "sales"},
	}
}

// Record counts per object; 200 in total.
const (
	numAccounts      = 40
	numContacts      = 60
	numLeads         = 35
	numOpportunities = 35
	numActivities    = 30
)

// Records returns the sample records in creation order (every lookup target appears before it is referenced).
// It is deterministic: the same seed yields the same data.
func Records(seed int64) []Sample {
	g := &gen{
		r:    rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
		used: map[string]bool{},
	}
	out := make([]Sample, 0, numAccounts+numContacts+numLeads+numOpportunities+numActivities)
	accounts := g.accounts(&out)
	g.contacts(&out, accounts)
	g.leads(&out)
	g.opportunities(&out, accounts)
	g.activities(&out, accounts)
	return out
}

type gen struct {
	r    *rand.Rand
	used map[string]bool // "kind:value" already handed out, to keep names, e-mails and numbers unique
}

type company struct {
	name, short, domain, industry string
	zh                            bool
	city                          city
}

type contactInfo struct {
	key, name string
}

type oppInfo struct {
	key string
}

type accountInfo struct {
	key, owner, kind string
	co               company
	address          string
	contacts         []contactInfo
	opps             []oppInfo
}

// ---------------------------------------------------------------- helpers

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *gen, s []T) T { return s[g.r.IntN(len(s))] }

// weighted returns an index into weights, chosen proportionally.
func (g *gen) weighted(weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := g.r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func (g *gen) digits(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(byte('0' + g.r.IntN(10)))
	}
	return b.String()
}

// claim marks value as used within kind and reports whether it was free.
func (g *gen) claim(kind, value string) bool {
	k := kind + ":" + value
	if g.used[k] {
		return false
	}
	g.used[k] = true
	return true
}

var owners = []string{"sales1", "sales2", "manager", "admin"}

func (g *gen) owner() string { return owners[g.weighted([]int{35, 35, 20, 10})] }

// inherit returns parent with probability p, otherwise a random owner.
func (g *gen) inherit(parent string, p float64) string {
	if g.chance(p) {
		return parent
	}
	return g.owner()
}

// ---------------------------------------------------------------- people

type person struct {
	name  string
	local string // e-mail local part
	zh    bool
}

func (g *gen) person(zh bool) person {
	for attempt := 0; ; attempt++ {
		var p person
		if zh {
			s, gn := pick(g, zhSurnames), pick(g, zhGivenNames)
			p = person{name: s.han + gn.han, zh: true}
			switch g.r.IntN(3) {
			case 0:
				p.local = s.pinyin + "." + gn.pinyin
			case 1:
				p.local = s.pinyin + gn.pinyin
			default:
				p.local = gn.pinyin + "." + s.pinyin
			}
		} else {
			f, l := pick(g, enFirstNames), pick(g, enLastNames)
			p = person{name: f + " " + l}
			if g.chance(0.7) {
				p.local = strings.ToLower(f + "." + l)
			} else {
				p.local = strings.ToLower(f[:1] + l)
			}
		}
		if g.claim("name", p.name) || attempt > 50 {
			return p
		}
	}
}

func (g *gen) email(local, domain string) string {
	addr := local + "@" + domain
	for i := 2; !g.claim("email", addr); i++ {
		addr = local + strconv.Itoa(i) + "@" + domain
	}
	return addr
}

var mobilePrefixes = []string{
	"130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
	"150", "151", "152", "153", "155", "156", "157", "158", "159",
	"180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
	"191", "193", "195", "196", "198", "199",
}

func (g *gen) mobile() string {
	for {
		m := pick(g, mobilePrefixes) + g.digits(8)
		if g.claim("mobile", m) {
			return m
		}
	}
}

// landline returns an office number in c, e.g. "010-62345678", "+86 21 5555 1234" or "+65 6123 4567".
func (g *gen) landline(c city) string {
	if c.overseas {
		return c.area + g.digits(3) + " " + g.digits(4)
	}
	local := strconv.Itoa(2+g.r.IntN(7)) + g.digits(7)
	if g.chance(0.7) {
		return "0" + c.area + "-" + local
	}
	return "+86 " + c.area + " " + local[:4] + " " + local[4:]
}

func (g *gen) address(c city) string {
	street := pick(g, c.streets)
	switch {
	case c.name == "Singapore":
		return fmt.Sprintf("%d %s, #%02d-%02d, Singapore %s", 1+g.r.IntN(80), street, 2+g.r.IntN(40), 1+g.r.IntN(20), pick(g, c.districts))
	case c.overseas:
		return fmt.Sprintf("%d %s, %s %s", 1+g.r.IntN(200), street, c.name, pick(g, c.districts))
	}
	a := fmt.Sprintf("%s市%s%s%d号", c.name, pick(g, c.districts), street, 1+g.r.IntN(300))
	switch g.r.IntN(3) {
	case 0:
		a += fmt.Sprintf("%c座%d%02d室", 'A'+rune(g.r.IntN(4)), 2+g.r.IntN(28), 1+g.r.IntN(20))
	case 1:
		a += fmt.Sprintf("%d层", 2+g.r.IntN(30))
	}
	return a
}

var (
	birthdayFrom = time.Date(1965, 1, 1, 0, 0, 0, 0, time.UTC)
	birthdayTo   = time.Date(2000, 12, 31, 0, 0, 0, 0, time.UTC)
)

func (g *gen) birthday() time.Time {
	days := int(birthdayTo.Sub(birthdayFrom).Hours() / 24)
	return birthdayFrom.AddDate(0, 0, g.r.IntN(days+1))
}

// idWeights are the ISO 7064 MOD 11-2 weights of the first 17 digits of a
// resident ID number (2^(17-i) mod 11).
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheckDigit returns the check character for the first 17 digits of a
// resident ID number.
func idCheckDigit(first17 string) byte {
	sum := 0
	for i := range 17 {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return "10X98765432"[sum%11]
}

// idNumber returns a checksum-valid 18-character resident ID number for
// someone born on birth. The county part of the area code is "99", which is
// not allocated.
func (g *gen) idNumber(birth time.Time) string {
	areas := make([]string, 0, len(zhCities)+len(extraIDAreas))
	for _, c := range zhCities {
		areas = append(areas, c.idArea)
	}
	areas = append(areas, extraIDAreas...)
	for {
		first := pick(g, areas) + "99" + birth.Format("20060102") + fmt.Sprintf("%03d", 1+g.r.IntN(999))
		id := first + string(idCheckDigit(first))
		if g.claim("id", id) {
			return id
		}
	}
}

// luhnCheckDigit returns the digit that makes payload+digit pass the Luhn check.
func luhnCheckDigit(payload string) byte {
	sum := 0
	double := true // the rightmost payload digit is doubled once the check digit is appended
	for i := len(payload) - 1; i >= 0; i-- {
		d := int(payload[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func (g *gen) bankAccount() string {
	for {
		n := pick(g, []int{16, 19, 19, 17, 18})
		payload := "6299" + g.digits(n-5)
		acct := payload + string(luhnCheckDigit(payload))
		if g.claim("bank", acct) {
			return acct
		}
	}
}

// ---------------------------------------------------------------- companies

func (g *gen) industry() int {
	w := make([]int, len(industries))
	for i, ind := range industries {
		w[i] = ind.weight
	}
	return g.weighted(w)
}

func (g *gen) company(zh bool, ind int) company {
	for attempt := 0; ; attempt++ {
		suf := pick(g, industries[ind].suffixes)
		var co company
		if zh {
			core := pick(g, zhCompanyCores)
			c := pick(g, zhCities)
			co = company{name: c.name + core.han + suf.zh, short: core.han + suf.zhShort,
				domain: core.pinyin + suf.slug + ".example.com", zh: true, city: c}
		} else {
			core := pick(g, enCompanyCores)
			var c city
			var legal string
			if g.chance(0.5) {
				c = pick(g, overseasCities)
				legal = map[bool]string{true: "Pte. Ltd.", false: "Ltd"}[c.name == "Singapore"]
			} else {
				c = pick(g, zhCities)
				legal = "(" + c.pinyin + ") Co., Ltd."
			}
			co = company{name: core + " " + suf.en + " " + legal, short: core + " " + suf.en,
				domain: strings.ToLower(core+"-"+strings.ReplaceAll(suf.en, " ", "")) + ".example.com", city: c}
		}
		co.industry = industries[ind].value
		if attempt > 200 {
			co.domain = strconv.Itoa(attempt) + co.domain
		}
		if !g.used["company:"+co.name] && !g.used["domain:"+co.domain] {
			g.claim("company", co.name)
			g.claim("domain", co.domain)
			return co
		}
	}
}

func industryLabel(value string, zh bool) string {
	for _, l := range industryLabels {
		if l.value == value {
			if zh {
				return l.zh
			}
			return l.en
		}
	}
	return value
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// niceRound rounds n to two significant digits.
func niceRound(n float64) float64 {
	if n < 10 {
		return math.Round(n)
	}
	p := math.Pow(10, math.Floor(math.Log10(n))-1)
	return math.Round(n/p) * p
}

// logUniform returns a value between lo and hi, uniformly distributed on a log scale.
func (g *gen) logUniform(lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + g.r.Float64()*(math.Log(hi)-math.Log(lo)))
}

// ---------------------------------------------------------------- accounts

var accountTypes = []string{"prospect", "customer", "partner", "competitor"}

func (g *gen) accounts(out *[]Sample) []*accountInfo {
	accounts := make([]*accountInfo, 0, numAccounts)
	// 70 % Chinese companies, 30 % international ones, in random order.
	zh := make([]bool, numAccounts)
	for i := range numAccounts * 7 / 10 {
		zh[i] = true
	}
	g.r.Shuffle(len(zh), func(i, j int) { zh[i], zh[j] = zh[j], zh[i] })
	for i := 1; i <= numAccounts; i++ {
		co := g.company(zh[i-1], g.industry())
		a := &accountInfo{key: fmt.Sprintf("account-%d", i), owner: g.owner(), co: co,
			kind: accountTypes[g.weighted([]int{35, 45, 12, 8})]}
		f := map[string]any{
			"name":     co.name,
			"industry": co.industry,
			"type":     a.kind,
			"city":     co.city.name,
		}
		if g.chance(0.9) {
			f["phone"] = g.landline(co.city)
		}
		if g.chance(0.7) {
			f["email"] = g.email(pick(g, []string{"info", "contact", "sales", "hello"}), co.domain)
		}
		if g.chance(0.8) {
			f["website"] = "https://www." + co.domain
		}
		employees := niceRound(g.logUniform(15, 20000))
		if g.chance(0.85) {
			f["employees"] = employees
		}
		if g.chance(0.8) {
			perHead := 200_000 + float64(g.r.IntN(130))*10_000
			f["annual_revenue"] = math.Max(niceRound(employees*perHead), 1_000_000)
		}
		a.address = g.address(co.city)
		if g.chance(0.85) {
			f["address"] = a.address
		}
		if g.chance(0.7) {
			tpl := pick(g, accountDescEN)
			if co.zh {
				tpl = pick(g, accountDescZH)
			}
			label := industryLabel(co.industry, co.zh)
			f["description"] = strings.NewReplacer(
				"{industry}", label,
				"{Industry}", capitalize(label),
				"{employees}", strconv.Itoa(int(employees)),
				"{reps}", strconv.Itoa(3+g.r.IntN(120)),
			).Replace(tpl)
		}
		*out = append(*out, Sample{Object: "account", Key: a.key, Owner: a.owner, Fields: f, Lookups: map[string]string{}})
		accounts = append(accounts, a)
	}
	return accounts
}

// spread returns n account indices: every account once if everyone is set,
// the rest drawn by weight. The result is sorted so that records of the same
// account stay together.
func (g *gen) spread(accounts []*accountInfo, n int, everyone bool, weight func(*accountInfo) int) []int {
	idx := make([]int, 0, n)
	if everyone {
		for i := range accounts {
			idx = append(idx, i)
		}
	}
	w := make([]int, len(accounts))
	for i, a := range accounts {
		w[i] = weight(a)
	}
	for len(idx) < n {
		idx = append(idx, g.weighted(w))
	}
	slices.Sort(idx)
	return idx
}

// ---------------------------------------------------------------- contacts

func (g *gen) contacts(out *[]Sample, accounts []*accountInfo) {
	kindWeight := map[string]int{"customer": 5, "prospect": 3, "partner": 3, "competitor": 1}
	idx := g.spread(accounts, numContacts, true, func(a *accountInfo) int { return kindWeight[a.kind] })
	for i, ai := range idx {
		a := accounts[ai]
		co := a.co
		var zhProb float64
		switch {
		case co.zh:
			zhProb = 0.9
		case co.city.overseas:
			zhProb = 0.15
		default:
			zhProb = 0.5
		}
		p := g.person(g.chance(zhProb))
		key := fmt.Sprintf("contact-%d", i+1)
		f := map[string]any{"name": p.name, "do_not_call": g.chance(0.08)}
		if g.chance(0.9) {
			if p.zh {
				f["title"] = pick(g, titlesZH)
			} else {
				f["title"] = pick(g, titlesEN)
			}
		}
		if !co.city.overseas && g.chance(0.85) {
			f["mobile"] = g.mobile()
		}
		if g.chance(0.5) {
			f["phone"] = g.landline(co.city)
		}
		if g.chance(0.9) {
			f["email"] = g.email(p.local, co.domain)
		}
		birth := g.birthday()
		if g.chance(0.65) {
			f["birthday"] = birth.Format(time.DateOnly)
		}
		if p.zh && !co.city.overseas && g.chance(0.6) {
			f["id_number"] = g.idNumber(birth)
		}
		if g.chance(0.35) {
			f["bank_account"] = g.bankAccount()
		}
		if g.chance(0.4) {
			f["address"] = a.address
		}
		if g.chance(0.35) {
			if p.zh {
				f["description"] = pick(g, contactNotesZH)
			} else {
				f["description"] = pick(g, contactNotesEN)
			}
		}
		*out = append(*out, Sample{Object: "contact", Key: key, Owner: g.inherit(a.owner, 0.9), Fields: f,
			Lookups: map[string]string{"account_id": a.key}})
		a.contacts = append(a.contacts, contactInfo{key: key, name: p.name})
	}
}

// ---------------------------------------------------------------- leads

func (g *gen) leads(out *[]Sample) {
	srcWeights := make([]int, len(leadSources))
	for i, s := range leadSources {
		srcWeights[i] = s.weight
	}
	statusWeights := make([]int, len(leadStatuses))
	for i, s := range leadStatuses {
		statusWeights[i] = s.weight
	}
	for i := 1; i <= numLeads; i++ {
		zh := g.chance(0.65)
		co := g.company(zh, g.industry())
		if !zh && co.city.overseas && g.chance(0.3) {
			zh = true // e.g. a Chinese-speaking manager in Singapore
		}
		p := g.person(zh)
		src := leadSources[g.weighted(srcWeights)]
		f := map[string]any{
			"name":   p.name,
			"status": leadStatuses[g.weighted(statusWeights)].value,
		}
		if g.chance(0.9) {
			f["company"] = co.name
		}
		if g.chance(0.8) {
			if zh {
				f["title"] = pick(g, titlesZH)
			} else {
				f["title"] = pick(g, titlesEN)
			}
		}
		if !co.city.overseas && g.chance(0.85) {
			f["mobile"] = g.mobile()
		}
		if g.chance(0.85) {
			if _, ok := f["company"]; ok {
				f["email"] = g.email(p.local, co.domain)
			} else {
				f["email"] = g.email(p.local, pick(g, []string{"mail.example.com", "example.net", "example.org"}))
			}
		}
		if zh && !co.city.overseas && g.chance(0.3) {
			f["id_number"] = g.idNumber(g.birthday())
		}
		if g.chance(0.15) {
			f["bank_account"] = g.bankAccount()
		}
		if g.chance(0.5) {
			f["address"] = g.address(co.city)
		}
		if g.chance(0.95) {
			f["source"] = src.value
		}
		if g.chance(0.7) {
			if zh {
				f["description"] = pick(g, src.zh)
			} else {
				f["description"] = pick(g, src.en)
			}
		}
		*out = append(*out, Sample{Object: "lead", Key: fmt.Sprintf("lead-%d", i), Owner: g.owner(), Fields: f,
			Lookups: map[string]string{}})
	}
}

// ---------------------------------------------------------------- opportunities

var (
	closedFrom = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	closedTo   = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
	openFrom   = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	openTo     = time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC)
)

func (g *gen) dateBetween(from, to time.Time) time.Time {
	days := int(to.Sub(from).Hours() / 24)
	return from.AddDate(0, 0, g.r.IntN(days+1))
}

func (g *gen) opportunities(out *[]Sample, accounts []*accountInfo) {
	kindWeight := map[string]int{"customer": 5, "prospect": 3, "partner": 2, "competitor": 0}
	idx := g.spread(accounts, numOpportunities, false, func(a *accountInfo) int { return kindWeight[a.kind] })
	stageWeights := make([]int, len(stages))
	for i, s := range stages {
		stageWeights[i] = s.weight
	}
	for i, ai := range idx {
		a := accounts[ai]
		zh := a.co.zh
		st := stages[g.weighted(stageWeights)]
		products := productsEN
		if zh {
			products = productsZH
		}
		var name string
		for attempt := 0; ; attempt++ {
			name = a.co.short + " - " + pick(g, products)
			if attempt > 20 {
				name += fmt.Sprintf(" (%d)", attempt)
			}
			if g.claim("opportunity", name) {
				break
			}
		}
		// 10,000.00 – 5,000,000.00 with two decimals, skewed towards smaller deals.
		cents := int64(math.Round(g.logUniform(1_000_000, 500_000_000)))
		cents = min(max(cents, 1_000_000), 500_000_000)
		closed := st.value == "closed_won" || st.value == "closed_lost"
		closeDate := g.dateBetween(openFrom, openTo)
		if closed {
			closeDate = g.dateBetween(closedFrom, closedTo)
		}
		f := map[string]any{
			"name":        name,
			"stage":       st.value,
			"amount":      float64(cents) / 100,
			"probability": st.probability,
			"close_date":  closeDate.Format(time.DateOnly),
		}
		if g.chance(map[bool]float64{true: 0.5, false: 0.9}[closed]) {
			if zh {
				f["next_step"] = pick(g, st.nextZH)
			} else {
				f["next_step"] = pick(g, st.nextEN)
			}
		}
		if g.chance(0.5) {
			if zh {
				f["description"] = pick(g, oppNotesZH)
			} else {
				f["description"] = pick(g, oppNotesEN)
			}
		}
		key := fmt.Sprintf("opportunity-%d", i+1)
		*out = append(*out, Sample{Object: "opportunity", Key: key, Owner: g.inherit(a.owner, 0.85), Fields: f,
			Lookups: map[string]string{"account_id": a.key}})
		a.opps = append(a.opps, oppInfo{key: key})
	}
}

// ---------------------------------------------------------------- activities

var (
	activityFrom = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	activityTo   = time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)
	// activities due before this are mostly done
	activityNow = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
)

func activitySubject(typ string, zh bool, who, short string) string {
	if zh {
		switch typ {
		case "call":
			return "电话回访" + who
		case "meeting":
			return short + "需求沟通会"
		case "email":
			return "发送报价单给" + who
		case "task":
			return "准备" + short + "合同草案"
		default:
			return "上门拜访" + short
		}
	}
	switch typ {
	case "call":
		return "Follow-up call with " + who
	case "meeting":
		return "Requirements workshop with " + short
	case "email":
		return "Send quote to " + who
	case "task":
		return "Prepare contract draft for " + short
	default:
		return "On-site visit at " + short
	}
}

func (g *gen) activities(out *[]Sample, accounts []*accountInfo) {
	typeWeights := make([]int, len(activityTypes))
	for i, t := range activityTypes {
		typeWeights[i] = t.weight
	}
	accWeights := make([]int, len(accounts))
	for i, a := range accounts {
		if a.kind != "competitor" {
			accWeights[i] = 1 + len(a.contacts) + 2*len(a.opps)
		}
	}
	for i := 1; i <= numActivities; i++ {
		a := accounts[g.weighted(accWeights)]
		typ := activityTypes[g.weighted(typeWeights)].value
		lookups := map[string]string{"account_id": a.key}
		who := a.co.short
		if len(a.contacts) > 0 && g.chance(0.75) {
			c := pick(g, a.contacts)
			lookups["contact_id"] = c.key
			who = c.name
		}
		if len(a.opps) > 0 && g.chance(0.55) {
			lookups["opportunity_id"] = pick(g, a.opps).key
		}
		day := g.dateBetween(activityFrom, activityTo)
		for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
			day = day.AddDate(0, 0, 1)
		}
		offset := 8 // China and Singapore
		if a.co.city.name == "London" {
			offset = 0
		}
		due := day.Add(time.Duration(9*60+30*g.r.IntN(18)-offset*60) * time.Minute)
		f := map[string]any{
			"subject": activitySubject(typ, a.co.zh, who, a.co.short),
			"type":    typ,
			"due_at":  due.UTC().Format(time.RFC3339),
			"done":    due.Before(activityNow) && g.chance(0.9),
		}
		notes := activityNotesEN
		if a.co.zh {
			notes = activityNotesZH
		}
		if n := pick(g, notes); n != "" {
			f["notes"] = n
		}
		*out = append(*out, Sample{Object: "activity", Key: fmt.Sprintf("activity-%d", i), Owner: g.inherit(a.owner, 0.8),
			Fields: f, Lookups: lookups})
	}
}
