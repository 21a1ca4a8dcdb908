/* Conditional fields and sections of the protocol form page (templates/records/fill.html).
 *
 * The server renders every field. A conditional field or section carries `data-show-if`: its
 * condition as Expression.to_json() writes it (portal/protocols/expressions.py). This script
 * evaluates each condition against what the inputs hold, the way the server will when the form
 * is posted (portal/protocols/builder.py), and sets `hidden` on the element unless the condition
 * is true; it evaluates again on every `input` and `change`.
 *
 * The server stays the authority: it discards what a hidden field receives and requires a field
 * only when it is visible. So whenever the script cannot be sure of the server's answer (a node
 * or a function it does not know, a calculated field, a code checked against a pattern, a
 * non-integral power...), it leaves the element visible: it fails open. No dependency, no
 * inline code (the Content-Security-Policy is `default-src 'self'`).
 */
(function () {
  "use strict";

  if (typeof BigInt !== "function" || typeof Map !== "function" || typeof Set !== "function") {
    return; // an old browser: every field stays visible, as without JavaScript
  }

  // Input names: `f_<key>`, and `s_<section>-<i>-f_<key>` in a repeated entry (builder.py).
  const FIELD_PREFIX = "f_";
  // Python's default decimal context: 28 significant digits, half-even rounding.
  const PREC = 28;
  const EMAX = 999999;
  // A value the server may see differently (or may not see at all): decisions on it fail open.
  const UNSURE = Object.freeze({ unsure: true });
  // A condition this script does not understand: its element stays visible.
  const UNSUPPORTED = Object.freeze({ unsupported: true });
  // Visibility: hidden for sure, shown for sure, or shown because the script is not sure.
  const HIDE = 0;
  const SHOW = 1;
  const MAYBE = 2;
  const ZERO = BigInt(0);
  const ONE = BigInt(1);
  const TWO = BigInt(2);
  const TEN = BigInt(10);

  // ------------------------------------------------------------------------------------------
  // Numbers: an int (exact, as Python's int) or a Decimal (coefficient × 10^exponent, every
  // operation rounded to 28 digits, half-even, as Python's decimal module does).

  const powers = [ONE];

  function pow10(n) {
    if (n > 400) return TEN ** BigInt(n);
    while (powers.length <= n) powers.push(powers[powers.length - 1] * TEN);
    return powers[n];
  }

  function absBig(a) {
    return a < ZERO ? -a : a;
  }

  function digits(a) {
    return a === ZERO ? 1 : absBig(a).toString().length;
  }

  function sign(a) {
    return a > ZERO ? 1 : a < ZERO ? -1 : 0;
  }

  function num(c, e, isInt) {
    return { t: "num", c: c, e: e, i: isInt };
  }

  function int(c) {
    return num(c, 0, true);
  }

  /* A Decimal result: c × 10^e rounded to PREC digits, half-even. `sticky` says that the exact
   * value is a little larger in magnitude than c × 10^e (then c has more than PREC digits). */
  function dec(c, e, sticky) {
    const d = digits(c);
    if (d > PREC) {
      const drop = d - PREC;
      const p = pow10(drop);
      const half = p / TWO;
      const r = absBig(c) % p;
      let q = absBig(c) / p;
      if (r > half || (r === half && (sticky || q % TWO === ONE))) q += ONE;
      c = c < ZERO ? -q : q;
      e += drop;
    }
    const adjusted = digits(c) + e - 1;
    if (c !== ZERO && (adjusted > EMAX || adjusted < -EMAX)) return UNSURE; // overflow, subnormal
    return num(c, e, false);
  }

  function cmpNum(a, b) {
    const sa = sign(a.c);
    const sb = sign(b.c);
    if (sa !== sb) return sa < sb ? -1 : 1;
    if (sa === 0) return 0;
    const xa = digits(a.c) + a.e;
    const xb = digits(b.c) + b.e;
    if (xa !== xb) return xa < xb ? -sa : sa;
    const m = Math.min(a.e, b.e); // the exponents differ by at most the digits' difference
    const x = a.c * pow10(a.e - m);
    const y = b.c * pow10(b.e - m);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function addNum(a, b) {
    if (a.i && b.i) return int(a.c + b.c);
    if (a.c === ZERO) return dec(b.c, b.e);
    if (b.c === ZERO) return dec(a.c, a.e);
    let x = a;
    let y = b;
    if (digits(y.c) + y.e > digits(x.c) + x.e) {
      x = b;
      y = a;
    }
    // Far below both the rounding digit and x's last digit, y only tips the rounding: a
    // one-digit stand-in of the same sign rounds alike and keeps the integers small.
    const lim = Math.min(digits(x.c) + x.e - PREC - 5, x.e - 2);
    if (digits(y.c) + y.e < lim) y = num(y.c < ZERO ? -ONE : ONE, lim - 1, false);
    const m = Math.min(x.e, y.e);
    return dec(x.c * pow10(x.e - m) + y.c * pow10(y.e - m), m);
  }

  function negNum(a) {
    return a.i ? int(-a.c) : dec(-a.c, a.e); // Decimal's unary minus rounds too
  }

  function mulNum(a, b) {
    return a.i && b.i ? int(a.c * b.c) : dec(a.c * b.c, a.e + b.e);
  }

  function divNum(a, b) {
    if (b.c === ZERO) return null; // DivisionByZero, or 0/0: the server makes it unknown
    if (a.c === ZERO) return num(ZERO, 0, false);
    const A = absBig(a.c);
    const B = absBig(b.c);
    const k = Math.max(0, PREC + 2 + digits(B) - digits(A)); // a quotient of PREC + 2 digits
    const n = A * pow10(k);
    const q = n / B;
    const negative = a.c < ZERO !== b.c < ZERO;
    return dec(negative ? -q : q, a.e - b.e - k, n % B !== ZERO);
  }

  function powNum(a, b) {
    let n = null; // the exponent, when it is a whole number
    if (b.c === ZERO) n = ZERO;
    else if (b.e >= 0) {
      if (b.e > 6) return UNSURE;
      n = b.c * pow10(b.e);
    } else if (digits(b.c) > -b.e && b.c % pow10(-b.e) === ZERO) n = b.c / pow10(-b.e);
    if (n !== null) {
      if (a.c === ZERO) return n > ZERO ? num(ZERO, 0, false) : n === ZERO ? null : UNSURE;
      if (n === ZERO) return num(ONE, 0, false);
      const m = absBig(n);
      if (m > BigInt(5000) || Number(m) * digits(a.c) > 20000) return UNSURE;
      const exact = num(a.c ** m, a.e * Number(m), false);
      return n > ZERO ? dec(exact.c, exact.e) : divNum(num(ONE, 0, false), exact);
    }
    if (a.c < ZERO) return null; // InvalidOperation: unknown
    if (a.c === ZERO) return b.c > ZERO ? num(ZERO, 0, false) : UNSURE; // 0 ^ -x is Infinity
    if (cmpNum(a, int(ONE)) === 0) return num(ONE, 0, false);
    return UNSURE; // computed with exp and ln on the server: not mirrored here
  }

  /* Decimal(x).quantize(Decimal(1).scaleb(-places)), half-even. */
  function roundNum(x, places) {
    const target = -places;
    let c = x.c;
    if (x.e < target) {
      if (digits(c) + x.e < target) c = ZERO; // below half a unit
      else {
        const p = pow10(target - x.e);
        const half = p / TWO;
        const r = absBig(c) % p;
        let q = absBig(c) / p;
        if (r > half || (r === half && q % TWO === ONE)) q += ONE;
        c = c < ZERO ? -q : q;
      }
    } else {
      if (x.e - target > PREC + 1) return UNSURE;
      c = c * pow10(x.e - target);
    }
    if (digits(c) > PREC) return UNSURE; // quantize raises InvalidOperation on the server
    return num(c, target, false);
  }

  /* Decimal(x).quantize(Decimal(1).scaleb(-places), ROUND_CEILING or ROUND_FLOOR); null where
   * the server's quantize overflows (it answers unknown). */
  function roundTowards(x, places, up) {
    const target = -places;
    let c = x.c;
    if (x.e < target) {
      if (target - x.e > 2 * PREC + 4 && digits(c) + x.e < target) {
        // far below one unit: 0, or one unit away from zero in the rounding direction
        c = c === ZERO ? ZERO : up ? (c > ZERO ? ONE : ZERO) : (c < ZERO ? -ONE : ZERO);
      } else {
        const p = pow10(target - x.e);
        let q = c / p; // BigInt division truncates towards zero
        if (c % p !== ZERO && (up ? c > ZERO : c < ZERO)) q += up ? ONE : -ONE;
        c = q;
      }
    } else {
      if (x.e - target > PREC + 1) return null;
      c = c * pow10(x.e - target);
    }
    if (digits(c) > PREC) return null;
    return num(c, target, false);
  }

  /* A decimal string as Python writes it: 12, -1.50, 1E+3, 2.5E-7. */
  function parseNumber(text, isInt) {
    const match = /^([+-]?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
    if (!match) return null;
    const fraction = match[3] || "";
    let c = BigInt(match[2] + fraction);
    if (match[1] === "-") c = -c;
    const e = (match[4] ? parseInt(match[4], 10) : 0) - fraction.length;
    if (!isFinite(e)) return null;
    return num(c, e, isInt);
  }

  // ------------------------------------------------------------------------------------------
  // Dates: proleptic Gregorian ordinals as Python's date.toordinal() (0001-01-01 is 1).

  const MAX_ORDINAL = 3652059; // 9999-12-31

  function isLeap(y) {
    return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  }

  function monthDays(y, m) {
    return [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  }

  function validDate(y, m, d) {
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= monthDays(y, m);
  }

  function toOrdinal(y, m, d) {
    const yy = m <= 2 ? y - 1 : y;
    const era = Math.floor(yy / 400);
    const yoe = yy - era * 400;
    const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
    return era * 146097 + doe - 719468 + 719163;
  }

  function fromOrdinal(n) {
    if (!(n >= 1 && n <= MAX_ORDINAL)) return UNSURE; // the server fails on such a date
    const z = n - 719163 + 719468;
    const era = Math.floor(z / 146097);
    const doe = z - era * 146097;
    const yoe = Math.floor(
      (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
    );
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const m = mp + (mp < 10 ? 3 : -9);
    return day(yoe + era * 400 + (m <= 2 ? 1 : 0), m, d);
  }

  function day(y, m, d) {
    return { t: "date", y: y, m: m, d: d, o: toOrdinal(y, m, d) };
  }

  function month(y, m) {
    return { t: "month", y: y, m: m };
  }

  function pad(n, width) {
    return String(n).padStart(width, "0");
  }

  function isoDay(value) {
    return pad(value.y, 4) + "-" + pad(value.m, 2) + "-" + pad(value.d, 2);
  }

  /* Duration.add_to: days and weeks move the ordinal; months clamp to the month's last day. */
  function addDuration(date, duration, sgn) {
    const amount = duration.n * sgn;
    if (duration.u === "d" || duration.u === "w") {
      return fromOrdinal(date.o + amount * (duration.u === "w" ? 7 : 1));
    }
    const index = date.y * 12 + (date.m - 1) + amount * (duration.u === "y" ? 12 : 1);
    const y = Math.floor(index / 12);
    const m = index - y * 12 + 1;
    if (!(y >= 1 && y <= 9999)) return UNSURE;
    return day(y, m, Math.min(date.d, monthDays(y, m)));
  }

  // ------------------------------------------------------------------------------------------
  // The expression tree, as to_json() writes it.

  const COMPARISONS = new Set(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]);
  const ARITHMETIC = new Set(["+", "-", "*", "/", "^"]);
  const FUNCTIONS = { round: [2, 2], abs: [1, 1], min: [1, Infinity], max: [1, Infinity],
    days_between: [2, 2], rounddown: [2, 2], roundup: [2, 2], sum: [1, Infinity], if: [3, 3] };

  function isNode(node) {
    return Array.isArray(node) && typeof node[0] === "string";
  }

  /* Whether this script understands every node of a tree. */
  function supported(node) {
    if (!isNode(node)) return false;
    const kind = node[0];
    switch (kind) {
      case "lit":
        return node.length === 2 && (node[1] === null || typeof node[1] === "string" ||
          Number.isSafeInteger(node[1]));
      case "num":
        return node.length === 2 && typeof node[1] === "string" &&
          parseNumber(node[1], false) !== null;
      case "date":
        return node.length === 2 && parseIsoDay(node[1]) !== null;
      case "month":
        return node.length === 2 && parseIsoMonth(node[1]) !== null;
      case "duration":
        return node.length === 3 && Number.isSafeInteger(node[1]) && node[1] >= 0 &&
          ["d", "w", "m", "y"].indexOf(node[2]) >= 0;
      case "ref":
        return node.length === 2 && typeof node[1] === "string";
      case "today":
        return node.length === 1;
      case "list":
        return node.length === 2 && Array.isArray(node[1]) && node[1].every(supported);
      case "neg":
      case "not":
        return node.length === 2 && supported(node[1]);
      case "and":
      case "or":
        return node.length === 2 && Array.isArray(node[1]) && node[1].length > 0 &&
          node[1].every(supported);
      case "call": {
        const arity = Object.prototype.hasOwnProperty.call(FUNCTIONS, node[1]) &&
          FUNCTIONS[node[1]];
        return node.length === 3 && !!arity && Array.isArray(node[2]) &&
          node[2].length >= arity[0] && node[2].length <= arity[1] && node[2].every(supported);
      }
      default:
        return (COMPARISONS.has(kind) || ARITHMETIC.has(kind)) && node.length === 3 &&
          supported(node[1]) && supported(node[2]);
    }
  }

  function parseIsoDay(text) {
    const match = typeof text === "string" && /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!match) return null;
    const y = +match[1], m = +match[2], d = +match[3];
    return validDate(y, m, d) ? day(y, m, d) : null;
  }

  function parseIsoMonth(text) {
    const match = typeof text === "string" && /^(\d{4})-(\d{2})$/.exec(text);
    if (!match) return null;
    const y = +match[1], m = +match[2];
    return y >= 1 && m >= 1 && m <= 12 ? month(y, m) : null;
  }

  function isNum(v) {
    return v !== null && typeof v === "object" && v.t === "num";
  }

  function isDay(v) {
    return v !== null && typeof v === "object" && v.t === "date";
  }

  function isDateLike(v) {
    return v !== null && typeof v === "object" && (v.t === "date" || v.t === "month");
  }

  /* Evaluate a (supported) tree. `ctx.ref(name)` gives a field's value, `ctx.today()` the day.
   * Values: null (blank or unknown), true, false, a code (string), {t: "codes"} (a multiple
   * choice), {t: "set"} (a list literal), {t: "num"}, {t: "date"}, {t: "month"}, {t: "dur"},
   * or UNSURE. Null comes before UNSURE wherever the server looks at null first. */
  function evaluate(node, ctx) {
    const kind = node[0];
    switch (kind) {
      case "lit": {
        const value = node[1];
        return typeof value === "number" ? int(BigInt(value)) : value;
      }
      case "num":
        return parseNumber(node[1], false);
      case "date":
        return parseIsoDay(node[1]);
      case "month":
        return parseIsoMonth(node[1]);
      case "duration":
        return { t: "dur", n: node[1], u: node[2] };
      case "ref":
        return ctx.ref(node[1]);
      case "today":
        return ctx.today();
      case "list": {
        const items = new Set();
        for (const item of node[1]) {
          const value = evaluate(item, ctx);
          if (typeof value !== "string") return UNSURE; // a list holds quoted codes only
          items.add(value);
        }
        return { t: "set", v: items };
      }
      case "neg": {
        const value = evaluate(node[1], ctx);
        if (value === null || value === UNSURE) return value;
        return isNum(value) ? negNum(value) : UNSURE;
      }
      case "not": {
        const value = evaluate(node[1], ctx);
        if (value === null || value === UNSURE) return value;
        return typeof value === "boolean" ? !value : UNSURE;
      }
      case "and":
      case "or":
        return logic(kind, node[1].map(function (operand) { return evaluate(operand, ctx); }));
      case "call":
        return call(node[1], node[2].map(function (arg) { return evaluate(arg, ctx); }));
      default:
        if (COMPARISONS.has(kind)) return compare(kind, node, ctx);
        return arithmetic(kind, evaluate(node[1], ctx), evaluate(node[2], ctx));
    }
  }

  function logic(op, results) {
    const decisive = op === "or"; // true decides an `or`, false decides an `and`
    if (results.indexOf(decisive) >= 0) return decisive;
    let unknown = false;
    for (const result of results) {
      if (result === null) unknown = true;
      else if (typeof result !== "boolean") return UNSURE;
    }
    return unknown ? null : !decisive;
  }

  function call(name, args) {
    if (name === "if") {
      if (args[0] === null || args[0] === UNSURE) return args[0];
      return typeof args[0] === "boolean" ? (args[0] ? args[1] : args[2]) : UNSURE;
    }
    if (name === "sum") {
      const given = args.filter(function (arg) { return arg !== null; });
      if (given.indexOf(UNSURE) >= 0 || !given.every(isNum)) return UNSURE;
      if (!given.length) return null;
      return given.reduce(addNum, num(ZERO, 0, false));
    }
    if (args.indexOf(null) >= 0) return null;
    if (args.indexOf(UNSURE) >= 0) return UNSURE;
    if (name === "days_between") {
      return isDay(args[0]) && isDay(args[1]) ? int(BigInt(args[1].o - args[0].o)) : UNSURE;
    }
    if (!args.every(isNum)) return UNSURE;
    if (name === "round") {
      const places = args[1];
      if (!places.i || places.c < -BigInt(PREC) || places.c > BigInt(PREC)) return UNSURE;
      return roundNum(args[0], Number(places.c));
    }
    if (name === "rounddown" || name === "roundup") {
      const places = args[1];
      if (!places.i || places.c < -BigInt(PREC) || places.c > BigInt(PREC)) return UNSURE;
      return roundTowards(args[0], Number(places.c), name === "roundup");
    }
    if (name === "abs") return args[0].c < ZERO ? negNum(args[0]) : args[0].i ? args[0] :
      dec(args[0].c, args[0].e);
    // min and max: the first extreme argument, whatever its type (as Python's min and max)
    let best = args[0];
    for (const arg of args.slice(1)) {
      const order = cmpNum(arg, best);
      if (name === "min" ? order < 0 : order > 0) best = arg;
    }
    return best;
  }

  function arithmetic(op, left, right) {
    if (left === null || right === null) return null;
    if (left === UNSURE || right === UNSURE) return UNSURE;
    if (isDay(left) && right.t === "dur" && (op === "+" || op === "-")) {
      return addDuration(left, right, op === "-" ? -1 : 1);
    }
    if (left.t === "dur" && isDay(right) && op === "+") return addDuration(right, left, 1);
    if (!isNum(left) || !isNum(right)) return UNSURE;
    switch (op) {
      case "+":
        return addNum(left, right);
      case "-":
        return addNum(left, num(-right.c, right.e, right.i));
      case "*":
        return mulNum(left, right);
      case "/":
        return divNum(left, right);
      default:
        return powNum(left, right);
    }
  }

  function isNullLiteral(node) {
    return node[0] === "lit" && node[1] === null;
  }

  function compare(op, node, ctx) {
    const left = evaluate(node[1], ctx);
    const right = evaluate(node[2], ctx);
    if (op === "in" || op === "not in") {
      if (left === null || right === null) return null;
      if (left === UNSURE || right === UNSURE || typeof left !== "string") return UNSURE;
      let inside;
      if (right.t === "codes") inside = right.v.indexOf(left) >= 0;
      else if (right.t === "set") inside = right.v.has(left);
      else return UNSURE;
      return op === "in" ? inside : !inside;
    }
    // A comparison with the literal null tells whether the other side is blank.
    const leftIsNull = isNullLiteral(node[1]);
    if (leftIsNull || isNullLiteral(node[2])) {
      const other = leftIsNull ? right : left;
      if (other === UNSURE) return UNSURE;
      return (other === null) === (op === "==");
    }
    if (left === null || right === null) return null;
    if (left === UNSURE || right === UNSURE) return UNSURE;
    let order;
    if (isNum(left) && isNum(right)) order = cmpNum(left, right);
    else if (isDateLike(left) && isDateLike(right)) {
      if (isDay(left) && isDay(right)) order = left.o - right.o;
      else order = (left.y * 12 + left.m) - (right.y * 12 + right.m); // to the month
    } else if (typeof left === "string" && typeof right === "string") {
      if (op !== "==" && op !== "!=") return UNSURE; // codes are only compared for equality
      order = left === right ? 0 : 1;
    } else return UNSURE;
    switch (op) {
      case "==":
        return order === 0;
      case "!=":
        return order !== 0;
      case "<":
        return order < 0;
      case "<=":
        return order <= 0;
      case ">":
        return order > 0;
      default:
        return order >= 0;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Field values, parsed from the inputs as the server parses what is posted
  // (portal/protocols/fields.py); an invalid input is blank (null), as on the server.

  // Python's str.strip() whitespace (not quite JavaScript's trim()).
  const PY_SPACE = "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028" +
    "\\u2029\\u202f\\u205f\\u3000]";
  const STRIP = new RegExp("^" + PY_SPACE + "+|" + PY_SPACE + "+$", "g");

  function strip(text) {
    return String(text).replace(STRIP, "");
  }

  /* Python's `\d` also matches other scripts' digits: with any non-ASCII character, the
   * server's answer is not known here. */
  function refused(text) {
    return /[^\x00-\x7f]/.test(text) ? UNSURE : null;
  }

  /* What the browser posts under the field's name, as the server's `valuelist`. */
  function posted(field) {
    const texts = [];
    for (const input of field.inputs) {
      if (input.disabled) continue;
      if (input.tagName === "SELECT") {
        for (const option of input.options) if (option.selected) texts.push(option.value);
      } else if (input.type === "radio" || input.type === "checkbox") {
        if (input.checked) texts.push(input.value);
      } else if (input.tagName === "INPUT") texts.push(input.value);
    }
    return texts;
  }

  function attributeNumber(element, name, isInt) {
    const text = element.getAttribute(name);
    return text === null ? null : parseNumber(text.trim(), isInt);
  }

  function outside(value, element, isInt) {
    const low = attributeNumber(element, "min", isInt);
    const high = attributeNumber(element, "max", isInt);
    return (low !== null && cmpNum(value, low) < 0) || (high !== null && cmpNum(value, high) > 0);
  }

  function parseField(field, ctx) {
    const texts = posted(field);
    const input = field.inputs[0];
    const first = texts.length ? strip(texts[0]) : "";
    switch (field.type) {
      case "integer": {
        if (!first) return null;
        const match = /^([+-]?)(\d{1,15})$/.exec(first);
        if (!match) return refused(first);
        const value = int(BigInt(match[2]) * (match[1] === "-" ? -ONE : ONE));
        if (outside(value, input, true)) return null;
        const step = attributeNumber(input, "step", true);
        const low = attributeNumber(input, "min", true);
        if (step && low && step.c > ONE && (value.c - low.c) % step.c !== ZERO) return null;
        return value;
      }
      case "decimal": {
        if (!first) return null;
        if (!/^[+-]?\d{1,15}(?:[.,]\d{1,12})?$/.test(first)) return refused(first);
        const value = parseNumber(first.replace(",", "."), false);
        if (outside(value, input, false)) return null;
        const step = input.getAttribute("step") || "1";
        const places = step.indexOf(".") >= 0 ? step.length - step.indexOf(".") - 1 : 0;
        let c = value.c;
        let e = value.e;
        while (e < -places && c % TEN === ZERO) {
          c /= TEN;
          e += 1;
        }
        return e < -places ? null : value; // more decimal places than the field allows
      }
      case "year": {
        if (!first) return null;
        if (!/^\d{4}$/.test(first)) return refused(first);
        const value = int(BigInt(first));
        const low = attributeNumber(input, "min", true);
        let high = attributeNumber(input, "max", true);
        if (high === null) { // this year, on the server
          const now = ctx.today();
          if (now === UNSURE) return UNSURE;
          high = int(BigInt(now.y));
        }
        return (low && cmpNum(value, low) < 0) || cmpNum(value, high) > 0 ? null : value;
      }
      case "date": {
        if (!first) return null;
        let match = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(first);
        if (match) {
          const y = +match[3], m = +match[2], d = +match[1];
          return validDate(y, m, d) ? day(y, m, d) : null;
        }
        match = /^\d{4}-\d{2}-\d{2}$/.test(first);
        return match ? parseIsoDay(first) : refused(first);
      }
      case "partial_date": {
        if (!first) return null;
        const match = /^(\d{4})-(\d{1,2})$/.exec(first) || /^(\d{1,2})\/(\d{4})$/.exec(first);
        if (!match) return refused(first);
        const y = match[1].length === 4 ? +match[1] : +match[2];
        const m = match[1].length === 4 ? +match[2] : +match[1];
        return y >= 1 && m >= 1 && m <= 12 ? month(y, m) : null;
      }
      case "multiple_choice": {
        const given = texts.map(strip).filter(Boolean);
        if (given.some(function (code) { return !field.codes.has(code); })) return null;
        const chosen = field.order.filter(function (code) { return given.indexOf(code) >= 0; });
        if (!chosen.length) return null;
        const most = parseInt(field.element.getAttribute("data-max-selected") || "", 10);
        return most && chosen.length > most ? null : { t: "codes", v: chosen };
      }
      case "yes_no":
      case "single_choice":
      case "coded": {
        if (input && input.tagName === "INPUT" && input.type === "text") {
          // A code checked against a pattern, maybe normalised, by the server only.
          return first ? UNSURE : null;
        }
        const given = texts.map(strip).filter(Boolean);
        if (given.length !== 1) return null; // none, or "Choose only one answer."
        return field.codes.has(given[0]) ? given[0] : null;
      }
      default:
        return UNSURE; // calculated (the server computes it), or a type unknown here
    }
  }

  // ------------------------------------------------------------------------------------------
  // The page.

  function condition(element, attribute) {
    const text = element.getAttribute(attribute || "data-show-if");
    if (text === null) return null;
    try {
      const tree = JSON.parse(text);
      return supported(tree) ? tree : UNSUPPORTED;
    } catch (error) {
      return UNSUPPORTED;
    }
  }

  function typeOf(element) {
    for (const name of element.classList) {
      if (name.indexOf("pf-") === 0 && name !== "pf-field") return name.slice(3);
    }
    return "";
  }

  /* Read the structure of one rendered form once: fields, sections, entries, conditions. */
  function model(container) {
    const sections = new Map();
    const top = new Map(); // the form's fields, outside repeated entries
    const entries = new Map(); // entry element → its fields
    const fields = [];
    for (const element of container.querySelectorAll(".pf-section")) {
      sections.set(element, {
        element: element, cond: condition(element),
        pinned: !!element.querySelector(".pf-errors"),
      });
    }
    for (const element of container.querySelectorAll(".pf-field")) {
      if (element.id.indexOf("w-") !== 0) continue;
      const name = element.id.slice(2);
      const entryElement = element.closest(".pf-entry");
      const prefix = entryElement ? entryElement.getAttribute("data-entry-prefix") || "" : "";
      if (name.indexOf(prefix + FIELD_PREFIX) !== 0) continue; // unknown: left alone
      let scope = top;
      if (entryElement) {
        if (!entries.has(entryElement)) entries.set(entryElement, new Map());
        scope = entries.get(entryElement);
      }
      const inputs = Array.prototype.filter.call(
        element.querySelectorAll("input, select, output"),
        function (input) { return input.name === name; },
      );
      const codes = [];
      for (const input of inputs) {
        if (input.tagName === "SELECT") {
          for (const option of input.options) if (option.value) codes.push(option.value);
        } else if (input.type === "radio" || input.type === "checkbox") codes.push(input.value);
      }
      const field = {
        element: element, name: name, key: name.slice(prefix.length + FIELD_PREFIX.length),
        type: typeOf(element), inputs: inputs, order: codes, codes: new Set(codes),
        section: sections.get(element.closest(".pf-section")) || null,
        scope: scope, cond: condition(element), pinned: !!element.querySelector(".pf-errors"),
      };
      if (!scope.has(field.key)) scope.set(field.key, field);
      fields.push(field);
    }
    return { top: top, sections: Array.from(sections.values()), fields: fields };
  }

  function meet(a, b) {
    return a === HIDE || b === HIDE ? HIDE : a === MAYBE || b === MAYBE ? MAYBE : SHOW;
  }

  /* One evaluation of a form: visibility and values, each decided once and on demand, in
   * whatever order the conditions need them (the server's dependency order). */
  function decide(form, today) {
    const shown = new Map();
    const values = new Map();
    const BUSY = -1;

    function lookup(scope) {
      return function (name) {
        const field = scope.get(name) || form.top.get(name); // the entry's own fields first
        return field ? value(field) : UNSURE;
      };
    }

    const topContext = { ref: lookup(form.top), today: today };

    function test(cond, ctx) {
      if (cond === null) return SHOW;
      if (cond === UNSUPPORTED) return MAYBE;
      let result;
      try {
        result = evaluate(cond, ctx);
      } catch (error) {
        result = UNSURE; // whatever went wrong, the server decides
      }
      return result === true ? SHOW : result === UNSURE ? MAYBE : HIDE;
    }

    function visibility(item) {
      const known = shown.get(item);
      if (known === BUSY) return MAYBE; // a loop: the server refuses such a protocol
      if (known !== undefined) return known;
      shown.set(item, BUSY);
      let result;
      if (item.scope) { // a field: its section, then its own condition
        result = item.section ? visibility(item.section) : SHOW;
        if (result !== HIDE) {
          result = meet(result, test(item.cond, { ref: lookup(item.scope), today: today }));
        }
      } else result = test(item.cond, topContext); // a section, in the form's scope
      shown.set(item, result);
      return result;
    }

    function value(field) {
      if (values.has(field)) return values.get(field);
      values.set(field, UNSURE);
      const seen = visibility(field);
      let result = null;
      if (seen !== HIDE) {
        result = parseField(field, { today: today });
        if (result !== null && seen === MAYBE) result = UNSURE;
      }
      values.set(field, result);
      return result;
    }

    /* A warning check's result in a field's scope: true, false, null (blank) or UNSURE. */
    visibility.check = function (tree, scope) {
      try {
        return evaluate(tree, { ref: lookup(scope), today: today });
      } catch (error) {
        return UNSURE;
      }
    };
    return visibility;
  }

  function todayFunction(holder) {
    // The server counts days in its time zone, from its clock: the day it gave with the page,
    // moved on as the browser's clock moves on in that zone.
    const zone = holder.getAttribute("data-timezone");
    const given = parseIsoDay(holder.getAttribute("data-today"));

    function zoneOrdinal() {
      const now = new Date();
      if (zone && typeof Intl === "object") {
        try {
          const parts = {};
          new Intl.DateTimeFormat("en-US", {
            timeZone: zone, year: "numeric", month: "numeric", day: "numeric",
          }).formatToParts(now).forEach(function (part) { parts[part.type] = +part.value; });
          if (validDate(parts.year, parts.month, parts.day)) {
            return toOrdinal(parts.year, parts.month, parts.day);
          }
        } catch (error) {
          // an unknown zone: the browser's own day
        }
      }
      return toOrdinal(now.getFullYear(), now.getMonth() + 1, now.getDate());
    }

    const offset = given ? given.o - zoneOrdinal() : 0;
    return function () {
      return fromOrdinal(zoneOrdinal() + offset);
    };
  }

  function start(container) {
    const holder = container.closest("form") || container;
    const form = model(container);
    const today = todayFunction(holder);
    const conditional = form.sections.concat(form.fields).filter(function (item) {
      return item.cond !== null || item.pinned;
    });
    // Warning checks (unusual values): shown as soon as the check is false; the server asks
    // for the confirmation on saving. One the server showed stays, like an error.
    const warnings = [];
    for (const element of container.querySelectorAll(".pf-warning[data-warn-unless]")) {
      const wrapper = element.closest(".pf-field");
      const field = form.fields.find(function (f) { return f.element === wrapper; });
      if (field) {
        warnings.push({ element: element, field: field, tree: condition(element,
          "data-warn-unless"), pinned: !element.hidden });
      }
    }
    if (!conditional.length && !warnings.length) return;

    function update() {
      const visibility = decide(form, today);
      for (const item of conditional) {
        // An element showing an error from the server stays: the person must be able to read
        // it (its value still counts as the conditions say).
        const hide = visibility(item) === HIDE && !item.pinned;
        if (item.element.hidden !== hide) item.element.hidden = hide;
      }
      for (const warning of warnings) {
        if (warning.pinned || warning.tree === UNSUPPORTED || warning.tree === null) continue;
        const show = visibility(warning.field) === SHOW &&
          visibility.check(warning.tree, warning.field.scope) === false;
        if (warning.element.hidden === show) warning.element.hidden = !show;
      }
    }

    holder.addEventListener("input", update);
    holder.addEventListener("change", update);
    window.addEventListener("pageshow", update);
    update();
  }

  function startAll() {
    document.querySelectorAll(".pf-form").forEach(start);
  }

  // For tests: evaluate a tree with typed values ({key: ["dec", "1.5"], ...}).
  window.portalConditions = {
    supported: supported,
    evaluate: function (tree, typed, todayIso) {
      if (!supported(tree)) return "unsupported";
      const today = parseIsoDay(todayIso);
      const result = evaluate(tree, {
        today: function () { return today; },
        ref: function (name) {
          const given = Object.prototype.hasOwnProperty.call(typed, name) ? typed[name] : null;
          if (given === null) return null;
          if (given[0] === "int") return parseNumber(given[1], true);
          if (given[0] === "dec") return parseNumber(given[1], false);
          if (given[0] === "date") return parseIsoDay(given[1]);
          if (given[0] === "month") return parseIsoMonth(given[1]);
          if (given[0] === "codes") return { t: "codes", v: given[1] };
          return given[1];
        },
      });
      if (result === UNSURE) return "unsure";
      if (result === null || typeof result === "boolean" || typeof result === "string") {
        return result;
      }
      if (result.t === "num") return ["num", result.c.toString() + "E" + result.e];
      if (result.t === "date") return ["date", isoDay(result)];
      if (result.t === "month") return ["month", pad(result.y, 4) + "-" + pad(result.m, 2)];
      return ["other", result.t];
    },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
})();
