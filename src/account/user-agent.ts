import { translator, type Translate } from '../i18n/i18n.js';

/** "Firefox on Linux": enough for a person to recognise their own device; the full string is shown too. */
export function describeBrowser(userAgent: string | null, t: Translate = translator('en')): string {
  if (!userAgent) return t('device.unknown_client');
  const ua = userAgent;
  const browser =
    /Edg\//.test(ua) ? 'Edge'
    : /OPR\//.test(ua) ? 'Opera'
    : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrom(e|ium)\//.test(ua) ? 'Chrome'
    : /Safari\//.test(ua) ? 'Safari'
    : /curl\//i.test(ua) ? 'curl'
    : /node|undici/i.test(ua) ? t('device.script')
    : t('device.unknown_browser');
  const os =
    /Android/.test(ua) ? 'Android'
    : /iPhone|iPad/.test(ua) ? 'iOS'
    : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X/.test(ua) ? 'macOS'
    : /Linux/.test(ua) ? 'Linux'
    : '';
  return os ? t('device.on', { browser, os }) : browser;
}
