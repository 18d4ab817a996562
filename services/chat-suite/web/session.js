// The signed-in user's tokens, and the HTTP calls made with them.
//
// Tokens live in sessionStorage: they survive a reload of this tab but not its closing, and
// other tabs do not share them (each tab signs in on its own, so two tabs never spend the same
// refresh token). The access token is short-lived (`expires_in`, 15 minutes by default); it is
// renewed with the refresh token before it expires and whenever the server answers 401.

const STORAGE_KEY = "chat-suite.session";

// Renew this long before the access token expires (and at 80 % of its life at the latest),
// so a request sent just before expiry still carries a valid token.
const REFRESH_MARGIN_MS = 60_000;

/**
 * An answer of the API that is not a success: the contract's `{error, code}` body, and for a
 * 429 or a 503 the seconds to wait before trying again (`Retry-After`), when it says.
 */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? "http_error";
    this.field = body?.field;
    this.retryAfter = retryAfter;
  }
}

/** `Retry-After` in whole seconds from now: delay-seconds, or an HTTP date (RFC 9110). */
function retryAfterSeconds(value) {
  if (!value) return undefined;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(1, Math.ceil(seconds)) : undefined;
}

/** `fetch` of a JSON API route: the parsed body, or an ApiError. */
async function requestJson(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not the API's JSON: a proxy's error page, say. The status still tells.
  }
  if (!response.ok) throw new ApiError(response.status, parsed, retryAfterSeconds(response.headers.get("Retry-After")));
  return parsed;
}

export class Session extends EventTarget {
  #tokens;
  #refreshing = null;
  #timer = 0;

  constructor(tokens) {
    super();
    this.#tokens = tokens;
    this.#scheduleRefresh();
  }

  /** The session this tab had before a reload, if any. */
  static restore() {
    try {
      const tokens = JSON.parse(sessionStorage.getItem(STORAGE_KEY));
      return tokens?.refresh_token ? new Session(tokens) : null;
    } catch {
      return null;
    }
  }

  static async login(username, password) {
    return Session.#start(await requestJson("/login", { method: "POST", body: { username, password } }));
  }

  static async register(username, email, password) {
    const body = { username, email, password };
    return Session.#start(await requestJson("/register", { method: "POST", body }));
  }

  static #start(pair) {
    return new Session(Session.#stored(pair));
  }

  /** Keeps the pair with its expiry as a point in time, which survives a reload. */
  static #stored(pair) {
    const tokens = {
      access_token: pair.access_token,
      refresh_token: pair.refresh_token,
      expires_at: Date.now() + pair.expires_in * 1000,
      issued_at: Date.now(),
      user_id: pair.user_id,
      username: pair.username,
    };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(tokens));
    return tokens;
  }

  get userId() {
    return this.#tokens.user_id;
  }

  get username() {
    return this.#tokens.username;
  }

  get accessToken() {
    return this.#tokens.access_token;
  }

  /** Whether the access token is about to expire (or has). */
  get expiring() {
    return this.#tokens.expires_at - Date.now() < REFRESH_MARGIN_MS;
  }

  /**
   * A new token pair for the refresh token. Concurrent callers share one request: the
   * refresh token is spent by its first use, and a second use would be taken for theft.
   * Fires `refreshed` (the socket passes the new access token on) or `ended` (the refresh
   * token is no longer valid: sign in again).
   */
  refresh() {
    this.#refreshing ??= requestJson("/token/refresh", {
      method: "POST",
      body: { refresh_token: this.#tokens.refresh_token },
    })
      .then((pair) => {
        this.#tokens = Session.#stored(pair);
        this.#scheduleRefresh();
        this.dispatchEvent(new Event("refreshed"));
      })
      .catch((error) => {
        if (error instanceof ApiError && error.status === 401) this.#end();
        throw error;
      })
      .finally(() => {
        this.#refreshing = null;
      });
    return this.#refreshing;
  }

  /**
   * An API call with the access token. A 401 (the token expired while the tab slept, say)
   * refreshes the token and tries once more.
   */
  async api(path, options = {}) {
    try {
      return await requestJson(path, { ...options, token: this.accessToken });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      await this.refresh();
      return requestJson(path, { ...options, token: this.accessToken });
    }
  }

  /** Revokes the refresh token (and its family) and forgets the tokens. */
  async logout() {
    const refreshToken = this.#tokens.refresh_token;
    this.#end();
    await requestJson("/logout", { method: "POST", body: { refresh_token: refreshToken } }).catch(() => {});
  }

  #end() {
    clearTimeout(this.#timer);
    sessionStorage.removeItem(STORAGE_KEY);
    this.dispatchEvent(new Event("ended"));
  }

  #scheduleRefresh() {
    clearTimeout(this.#timer);
    const { issued_at: issued, expires_at: expires } = this.#tokens;
    const at = Math.min(expires - REFRESH_MARGIN_MS, issued + (expires - issued) * 0.8);
    this.#timer = setTimeout(() => this.refresh().catch(() => {}), Math.max(0, at - Date.now()));
  }
}
