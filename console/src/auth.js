/**
 * Signing agents in with Amazon Cognito, straight from the browser: the app
 * client has no secret, so `InitiateAuth` with `USER_PASSWORD_AUTH` is a
 * plain JSON POST (the AWS JSON 1.1 protocol: the operation goes in the
 * `X-Amz-Target` header). Parley wants the ID token; the refresh token renews
 * it (`REFRESH_TOKEN_AUTH`) shortly before it expires, and again on demand
 * when Parley answers 401 `token_expired` (a clock that runs late, a laptop
 * that slept through the timer).
 *
 * The session lives in sessionStorage: it survives a reload, not the tab.
 */
export const STORAGE_KEY = 'parley.console.session';
// Renew this long before `exp`, so a request in flight never carries a token that dies on the way.
export const REFRESH_MARGIN_MS = 2 * 60 * 1000;

const READABLE = {
  NotAuthorizedException: 'Wrong email or password',
  UserNotFoundException: 'Wrong email or password',
  UserNotConfirmedException: 'This account is not confirmed yet. Ask your admin.',
  PasswordResetRequiredException: 'Your password must be reset before you can sign in.',
  TooManyRequestsException: 'Too many attempts. Wait a moment and try again.',
  LimitExceededException: 'Too many attempts. Wait a moment and try again.',
  InvalidParameterException: 'Enter your email and password.',
  ResourceNotFoundException: 'The sign-in service is not set up for this console.',
  network_error: 'Cannot reach the sign-in service. Check your connection.',
  challenge: 'This account needs a sign-in step the console does not support yet.',
  session_expired: 'Your session has expired. Sign in again.',
};

export class AuthError extends Error {
  constructor(code, message, status = 0) {
    super(message || READABLE[code] || 'Sign-in failed. Try again.');
    this.name = 'AuthError';
    this.code = code;
    this.status = status;
  }
}

/** The readable text for a Cognito error type. */
export function readable(code) {
  return READABLE[code] || 'Sign-in failed. Try again.';
}

/** The claims of a JWT, unverified (Parley verifies; the console only reads `exp` and `email`). */
export function claims(jwt) {
  try {
    const part = String(jwt).split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const padded = part + '='.repeat((4 - (part.length % 4)) % 4);
    const text = typeof atob === 'function' ? atob(padded) : Buffer.from(padded, 'base64').toString('binary');
    return JSON.parse(decodeURIComponent(escape(text)));
  } catch {
    return {};
  }
}

export function createAuth({
  cognito,
  fetchImpl = (...args) => globalThis.fetch(...args),
  storage = globalThis.sessionStorage,
  now = () => Date.now(),
  margin = REFRESH_MARGIN_MS,
}) {
  let session = load();
  let refreshing = null;
  let timer = null;
  const listeners = new Set();

  function load() {
    try {
      const s = JSON.parse(storage.getItem(STORAGE_KEY) || 'null');
      return s && s.idToken ? s : null;
    } catch {
      return null;
    }
  }

  function save() {
    try {
      if (session) storage.setItem(STORAGE_KEY, JSON.stringify(session));
      else storage.removeItem(STORAGE_KEY);
    } catch {
      // private mode: the session lasts as long as the page
    }
  }

  function changed() {
    save();
    schedule();
    for (const fn of [...listeners]) fn(session);
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (!session || !session.refreshToken) return;
    const delay = Math.max(0, session.expiresAt - margin - now());
    timer = setTimeout(() => refresh().catch(() => {}), delay);
  }

  async function call(target, body) {
    let response;
    try {
      response = await fetchImpl(cognito.endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-amz-json-1.1',
          'X-Amz-Target': `AWSCognitoIdentityProviderService.${target}`,
        },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new AuthError('network_error', undefined, 0);
    }
    let data = {};
    try {
      data = (await response.json()) || {};
    } catch {
      // no JSON: the status alone tells
    }
    if (!response.ok) {
      // Cognito names the error in `__type` (sometimes "prefix#Name") or the x-amzn-ErrorType header.
      const header = response.headers && response.headers.get && response.headers.get('x-amzn-ErrorType');
      const code = String(data.__type || data.code || header || 'unknown').split('#').pop().split(':')[0];
      throw new AuthError(code, READABLE[code] || data.message || data.Message, response.status);
    }
    return data;
  }

  function fromResult(result, email, refreshToken) {
    const idToken = result.IdToken;
    const c = claims(idToken);
    const expiresAt = c.exp ? c.exp * 1000 : now() + (result.ExpiresIn || 3600) * 1000;
    return {
      idToken,
      refreshToken: result.RefreshToken || refreshToken,
      expiresAt,
      email: c.email || email,
    };
  }

  async function signIn(email, password) {
    if (!email || !password) throw new AuthError('InvalidParameterException');
    const data = await call('InitiateAuth', {
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: cognito.client_id,
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
    if (!data.AuthenticationResult) throw new AuthError('challenge', data.ChallengeName && `${READABLE.challenge} (${data.ChallengeName})`);
    session = fromResult(data.AuthenticationResult, email);
    changed();
    return session;
  }

  /** Renews the ID token; calls made while one runs share it. A refused refresh token signs out. */
  function refresh() {
    if (refreshing) return refreshing;
    if (!session || !session.refreshToken) return Promise.reject(new AuthError('session_expired'));
    const current = session;
    refreshing = (async () => {
      try {
        const data = await call('InitiateAuth', {
          AuthFlow: 'REFRESH_TOKEN_AUTH',
          ClientId: cognito.client_id,
          AuthParameters: { REFRESH_TOKEN: current.refreshToken },
        });
        if (!data.AuthenticationResult) throw new AuthError('session_expired');
        if (session !== current) return session; // signed out (or in again) meanwhile
        session = fromResult(data.AuthenticationResult, current.email, current.refreshToken);
        changed();
        return session;
      } catch (err) {
        // Only a refused refresh token ends the session; a network blip does not.
        if (err.status >= 400 && err.status < 500 && session === current) {
          session = null;
          changed();
          throw new AuthError('session_expired', undefined, err.status);
        }
        throw err;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  /** A valid ID token, renewed first if it is about to expire. */
  async function token() {
    if (!session) throw new AuthError('session_expired');
    if (session.expiresAt - margin <= now() && session.refreshToken) await refresh();
    return session.idToken;
  }

  schedule();

  return {
    signIn,
    refresh,
    token,
    signOut() {
      session = null;
      changed();
    },
    /** The ID token as it is now (for pusher-js's synchronous headersProvider). */
    current: () => (session ? session.idToken : null),
    get signedIn() {
      return !!session;
    },
    get email() {
      return session && session.email;
    },
    get expiresAt() {
      return session && session.expiresAt;
    },
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    stop() {
      clearTimeout(timer);
    },
  };
}
