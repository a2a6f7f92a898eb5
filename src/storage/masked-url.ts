/** A service's URL as logs and answers may show it: the password masked (`SLUICE_INDEX`, `SLUICE_STATE`). */
export function maskedUrl(text: string): string {
  try {
    const url = new URL(text);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(not a URL)';
  }
}
