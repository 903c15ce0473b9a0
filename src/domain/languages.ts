/** Languages the service can run; each maps to a sandbox image and an in-sandbox launcher. */
export const LANGUAGES = ['python', 'nodejs'] as const;

export type Language = (typeof LANGUAGES)[number];

export function isLanguage(value: string): value is Language {
  return (LANGUAGES as readonly string[]).includes(value);
}
