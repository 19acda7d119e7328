/**
 * Parser for the Warden expression language:
 *   expr    := or
 *   or      := and ("OR" and)*
 *   and     := not ("AND" not)*
 *   not     := "NOT" not | predicate
 *   predicate := operand ( cmp operand | [NOT] IN "(" list ")" | [NOT] IN userref
 *                | [NOT] LIKE operand | IS [NOT] NULL )?
 *   operand := literal | column | "user" "." name | "(" expr ")"
 * Bad input raises ExpressionError with the position and what was expected.
 */
import { CompareOp, Expr } from './ast';

export class ExpressionError extends Error {
  constructor(
    readonly reason: string,
    readonly position: number,
    readonly source: string
  ) {
    super(`${reason} at position ${position + 1} of "${source}"`);
  }
}

type TokenKind = 'ident' | 'quoted' | 'string' | 'number' | 'op' | 'punct' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  position: number;
}

const MAX_LENGTH = 10_000;
const MAX_DEPTH = 64;
const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'IS', 'NULL', 'LIKE', 'TRUE', 'FALSE', 'DATE']);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const fail = (reason: string, at = i): never => {
    throw new ExpressionError(reason, at, source);
  };
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      // SQL-style quoting: the quote character is escaped by doubling it.
      const start = i;
      let text = '';
      i++;
      for (;;) {
        if (i >= source.length) {
          fail(c === "'" ? 'unterminated string literal' : 'unterminated quoted column name', start);
        }
        if (source[i] === c) {
          if (source[i + 1] === c) {
            text += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += source[i++];
      }
      if (c === '"' && text.length === 0) {
        fail('empty quoted column name', start);
      }
      tokens.push({ kind: c === "'" ? 'string' : 'quoted', text, position: start });
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      const match = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(source.slice(i))!;
      tokens.push({ kind: 'number', text: match[0], position: i });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))!;
      tokens.push({ kind: 'ident', text: match[0], position: i });
      i += match[0].length;
    } else if ('<>!='.includes(c)) {
      const two = source.slice(i, i + 2);
      const op = ['<=', '>=', '<>', '!='].includes(two) ? two : c;
      if (op === '!') {
        fail("unexpected '!' (did you mean '!='?)");
      }
      tokens.push({ kind: 'op', text: op, position: i });
      i += op.length;
    } else if ('(),.-'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, position: i });
      i++;
    } else {
      fail(`unexpected character '${c}'`);
    }
  }
  tokens.push({ kind: 'end', text: '', position: source.length });
  return tokens;
}

export function parseExpression(source: string): Expr {
  if (typeof source !== 'string') {
    throw new ExpressionError('expression must be text', 0, String(source));
  }
  if (source.length > MAX_LENGTH) {
    throw new ExpressionError(`expression longer than ${MAX_LENGTH} characters`, MAX_LENGTH, source.slice(0, 40) + '...');
  }
  if (source.trim() === '') {
    throw new ExpressionError('empty expression', 0, source);
  }
  return new Parser(source, tokenize(source)).parseAll();
}

class Parser {
  private index = 0;
  private depth = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: Token[]
  ) {}

  parseAll(): Expr {
    const expr = this.parseOr();
    const next = this.peek();
    if (next.kind !== 'end') {
      this.fail(`unexpected '${next.text}' after a complete expression`, next);
    }
    return expr;
  }

  private parseOr(): Expr {
    let left = this.parseAnd();
    while (this.acceptKeyword('OR')) {
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Expr {
    let left = this.parseNot();
    while (this.acceptKeyword('AND')) {
      left = { kind: 'and', left, right: this.parseNot() };
    }
    return left;
  }

  private parseNot(): Expr {
    if (this.acceptKeyword('NOT')) {
      return this.nested(() => ({ kind: 'not', operand: this.parseNot() }));
    }
    return this.parsePredicate();
  }

  private parsePredicate(): Expr {
    const operand = this.parseOperand();
    const next = this.peek();
    if (next.kind === 'op') {
      this.index++;
      const op: CompareOp = next.text === '<>' ? '!=' : (next.text as CompareOp);
      return { kind: 'compare', op, left: operand, right: this.parseOperand() };
    }
    if (this.acceptKeyword('IS')) {
      const negated = this.acceptKeyword('NOT');
      this.expectKeyword('NULL');
      return { kind: 'is_null', negated, operand };
    }
    const negated = this.acceptKeyword('NOT');
    if (this.acceptKeyword('IN')) {
      return { kind: 'in', negated, operand, list: this.parseInList() };
    }
    if (this.acceptKeyword('LIKE')) {
      return { kind: 'like', negated, operand, pattern: this.parseOperand() };
    }
    if (negated) {
      this.fail("expected IN or LIKE after NOT", this.peek());
    }
    return operand;
  }

  private parseInList(): Expr[] {
    if (this.peekKeyword('USER')) {
      // `x IN user.countries`: the list comes from a user attribute.
      return [this.parseOperand()];
    }
    this.expectPunct('(');
    const list: Expr[] = [this.parseOperand()];
    while (this.acceptPunct(',')) {
      list.push(this.parseOperand());
    }
    this.expectPunct(')');
    return list;
  }

  private parseOperand(): Expr {
    const token = this.peek();
    switch (token.kind) {
      case 'string':
        this.index++;
        return { kind: 'literal', value: token.text };
      case 'number':
        this.index++;
        return { kind: 'literal', value: this.finite(token) };
      case 'quoted':
        this.index++;
        return { kind: 'column', name: token.text };
      case 'punct':
        if (token.text === '(') {
          this.index++;
          const inner = this.nested(() => this.parseOr());
          this.expectPunct(')');
          return inner;
        }
        if (token.text === '-' && this.tokens[this.index + 1]?.kind === 'number') {
          this.index += 2;
          return { kind: 'literal', value: -this.finite(this.tokens[this.index - 1]) };
        }
        break;
      case 'ident': {
        const upper = token.text.toUpperCase();
        this.index++;
        if (upper === 'TRUE' || upper === 'FALSE') {
          return { kind: 'literal', value: upper === 'TRUE' };
        }
        if (upper === 'NULL') {
          return { kind: 'literal', value: null };
        }
        if (upper === 'DATE') {
          const text = this.peek();
          if (text.kind !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(text.text)) {
            this.fail("expected a date like '2020-07-01' after DATE", text);
          }
          this.index++;
          return { kind: 'literal', value: text.text, date: true };
        }
        if (upper === 'USER' && this.peek().text === '.') {
          this.index++;
          const attribute = this.peek();
          if (attribute.kind !== 'ident') {
            this.fail('expected an attribute name after "user."', attribute);
          }
          this.index++;
          return { kind: 'user', attribute: attribute.text };
        }
        if (KEYWORDS.has(upper)) {
          this.fail(`expected a value or column name, found keyword ${upper}`, token);
        }
        return { kind: 'column', name: token.text };
      }
    }
    return this.fail(
      token.kind === 'end' ? 'expression ends where a value or column name was expected' : `expected a value or column name, found '${token.text}'`,
      token
    );
  }

  private finite(token: Token): number {
    const value = Number(token.text);
    if (!Number.isFinite(value)) {
      this.fail(`number ${token.text} is out of range`, token);
    }
    // Past 2^53 a whole number is not what was written (9223372036854775807 reads as ...808), and
    // the engines would then be handed a value outside their integer types.
    if (Number.isInteger(value) && Math.abs(value) > Number.MAX_SAFE_INTEGER) {
      this.fail(`number ${token.text} is too large to compare exactly: whole numbers lie between -9007199254740991 and 9007199254740991`, token);
    }
    return value;
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) {
      this.fail(`expression nested deeper than ${MAX_DEPTH} levels`, this.peek());
    }
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private peek(): Token {
    return this.tokens[this.index];
  }

  private peekKeyword(word: string): boolean {
    const token = this.peek();
    return token.kind === 'ident' && token.text.toUpperCase() === word;
  }

  private acceptKeyword(word: string): boolean {
    if (this.peekKeyword(word)) {
      this.index++;
      return true;
    }
    return false;
  }

  private expectKeyword(word: string): void {
    if (!this.acceptKeyword(word)) {
      this.fail(`expected ${word}`, this.peek());
    }
  }

  private acceptPunct(text: string): boolean {
    const token = this.peek();
    if (token.kind === 'punct' && token.text === text) {
      this.index++;
      return true;
    }
    return false;
  }

  private expectPunct(text: string): void {
    if (!this.acceptPunct(text)) {
      const found = this.peek();
      this.fail(`expected '${text}'${found.kind === 'end' ? ' before the end' : `, found '${found.text}'`}`, found);
    }
  }

  private fail(reason: string, token: Token): never {
    throw new ExpressionError(reason, token.position, this.source);
  }
}
