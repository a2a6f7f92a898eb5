/**
 * Cleaning free text (the C action on text, PS3.15 E.3.5 and E.3.8): what may identify someone is removed,
 * the rest is kept. Two kinds of removal, applied together:
 *
 * 1. **The instance's own identifying values, in any form.** Every person name anywhere in the dataset
 *    (each name part alone as a word, and the parts joined in any order with or without separators:
 *    `Doe^Jane`, `Jane Doe`, `DOE, JANE`, `JaneDoe`), and every value of the identifying attributes listed
 *    below (IDs, accession and study numbers, addresses and their comma-separated parts, telephone numbers,
 *    institution, department, station, serial numbers, birth name, mother's name…), matched without regard
 *    to case and with or without separators between their letters and digits (`PID-778899`, `pid 778899`,
 *    `PID778899`; `+1 555 0100` for `5550100`).
 * 2. **Patterns that identify whoever they belong to:**
 *    - dates: `2019-03-04`, `04.03.2019`, `3/4/19`, `20190304`, `4 March 2019`, `Mar 4th, 2019`, `March 2019`
 *      (a year alone stays);
 *    - e-mail addresses, web addresses (`http…`, `www.…`) and IP addresses;
 *    - telephone numbers (7 digits or more, with `+`, spaces, dots, dashes or brackets);
 *    - identifiers: any token holding 5 digits or more (record numbers, accession numbers, postal codes,
 *      social security numbers), a token after `ID`, `MRN`, `No.`, `Nr.`, `#` or similar labels;
 *    - addresses: a house number followed by up to four words and a street type (`12 Elm Street`,
 *      `221B Baker St.`), a street-type word followed by a number (`Hauptstraße 5`, `Kerkstraat 12`),
 *      `rue`, `via`, `calle`… followed by their name, P.O. boxes, UK and Canadian postcodes, and a city name
 *      after a postal code (`80331 München`);
 *    - names: up to three capitalized words after a title (`Dr.`, `Mr`, `Mrs`, `Ms`, `Prof.`, `Herr`,
 *      `Frau`, `Mme`…) or after `by` (`signed by`, `seen by`, `referred by`…), DICOM person names
 *      (`Family^Given`), and capitalized words from a list of common given names with the capitalized word
 *      that follows them (`Mary Jones`).
 *
 * Removed text leaves no marker: spaces are collapsed, and punctuation left dangling at either end goes. A
 * value that held nothing but identifying text becomes empty (the caller then writes a dummy where a value is
 * required). Names that are not in the dataset, carry no title and are not common given names (a rare
 * family name alone, a nickname) cannot be told from other words and are kept.
 */

/** Attributes whose values identify the patient or someone else wherever they appear in free text. */
export const IDENTIFYING_TAGS: ReadonlySet<number> = new Set([
  0x00100020, // Patient ID
  0x00101000, // Other Patient IDs
  0x00100021, // Issuer of Patient ID
  0x00101040, // Patient's Address
  0x00102154, // Patient's Telephone Numbers
  0x00102155, // Patient Telecom Information
  0x00101090, // Medical Record Locator
  0x00101080, // Military Rank
  0x00101081, // Branch of Service
  0x00102152, // Region of Residence
  0x00100033, // Patient's Birth Date in Alternative Calendar
  0x00080050, // Accession Number
  0x00200010, // Study ID
  0x00380010, // Admission ID
  0x00400512, // Container Identifier
  0x00401001, // Requested Procedure ID
  0x00400009, // Scheduled Procedure Step ID
  0x00400253, // Performed Procedure Step ID
  0x00402016, // Placer Order Number / Imaging Service Request
  0x00402017, // Filler Order Number / Imaging Service Request
  0x00080080, // Institution Name
  0x00080081, // Institution Address
  0x00081040, // Institutional Department Name
  0x00080092, // Referring Physician's Address
  0x00080094, // Referring Physician's Telephone Numbers
  0x00401102, // Person's Address
  0x00401103, // Person's Telephone Numbers
  0x00401104, // Person's Telecom Information
  0x00081010, // Station Name
  0x00181000, // Device Serial Number
  0x00120020, // Clinical Trial Protocol ID
  0x00120040, // Clinical Trial Subject ID
  0x00120042, // Clinical Trial Subject Reading ID
  0x00120071, // Clinical Trial Series ID
  0x00120050, // Clinical Trial Time Point ID
]);

/** Identifying attributes whose values are addresses: each comma-separated part also identifies. */
const ADDRESS_TAGS: ReadonlySet<number> = new Set([0x00101040, 0x00080081, 0x00080092, 0x00401102]);

/** Values collected from an instance, ready for a scrubber. */
export interface IdentifyingValues {
  /** Person names as written (`Family^Given^Middle^Prefix^Suffix`, groups separated by `=`). */
  names: string[];
  /** Other identifying values, each with its tag. */
  values: Array<{ tag: number; value: string }>;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const LETTER_OR_DIGIT = '[\\p{L}\\p{N}]';
/** Between the characters of a value matched loosely: nothing, or spaces and punctuation. */
const SEP = "[\\s\\-./_,:;()'^]*";
const before = `(?<!${LETTER_OR_DIGIT})`;
const after = `(?!${LETTER_OR_DIGIT})`;

/** A value's letters and digits with optional separators between them, as a whole word. */
function loose(value: string): string | undefined {
  const chars = [...value].filter((c) => /[\p{L}\p{N}]/u.test(c));
  if (chars.length < 3) return undefined;
  return before + chars.map(escape).join(SEP) + after;
}

/** Two or more of a name's parts (at most four) in every order, joined with or without separators. */
function nameForms(parts: string[]): string[] {
  const main = [...new Set(parts.slice(0, 4))];
  const out: string[] = [];
  const permute = (done: string[], rest: string[]) => {
    if (done.length >= 2) out.push(before + done.map(escape).join(SEP) + after);
    rest.forEach((p, i) => permute([...done, p], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  permute([], main);
  return out;
}

/** A word in any case mix, for the patterns that must be case-sensitive elsewhere. */
const anyCase = (word: string) =>
  [...word]
    .map((c) => (c.toLowerCase() === c.toUpperCase() ? escape(c) : `[${c.toLowerCase()}${c.toUpperCase()}]`))
    .join('');
const CAPITALIZED = "\\p{Lu}[\\p{L}'-]*";

const MONTHS =
  'jan(?:uary|uar|vier)?|feb(?:ruary|ruar|rero)?|f[ée]vr(?:ier)?|m[äa]r(?:ch|z|s|zo)?|apr(?:il|ile)?|avr(?:il)?|abr(?:il)?|' +
  'may|mai|mayo|maggio|jun(?:e|i|io)?|juin|giugno|jul(?:y|i|io)?|juil(?:let)?|luglio|aug(?:ust)?|ao[ûu]t|ago(?:sto)?|' +
  'sep(?:t(?:ember)?|tiembre)?|oct(?:ober)?|okt(?:ober)?|octobre|ottobre|nov(?:ember|embre)?|dec(?:ember)?|dez(?:ember)?|d[ée]c(?:embre)?|dic(?:iembre|embre)?';
const CAPITALIZED_MONTHS = MONTHS.replace(
  /(^|\|)([a-z])/g,
  (_m, bar: string, c: string) => bar + c.toUpperCase(),
);
const DAY = '(?:0?[1-9]|[12]\\d|3[01])(?:st|nd|rd|th|er|\\.)?';
const YEAR = '\\d{4}';

/** Patterns that identify whoever they belong to, whatever their case (see the module comment). */
const ANY_CASE_PATTERNS: readonly string[] = [
  // E-mail, web and IP addresses.
  '(?<![\\p{L}\\p{N}._%+-])[\\p{L}\\p{N}._%+-]+@[\\p{L}\\p{N}.-]+\\.\\p{L}{2,}',
  '(?:https?|ftp)://\\S+|\\bwww\\.\\S+',
  `${before}\\d{1,3}(?:\\.\\d{1,3}){3}${after}`,
  // Dates with a month name and a year: "4 may 2019", "4th of Mar. 2019", "March 4, 2019", "march 2019".
  `${before}${DAY}\\s*(?:of\\s+)?(?:${MONTHS})\\.?,?\\s*${YEAR}${after}`,
  `${before}(?:${MONTHS})\\.?\\s*${DAY},?\\s*${YEAR}${after}`,
  `${before}(?:${MONTHS})\\.?,?\\s*${YEAR}${after}`,
  // Numeric dates: 2019-03-04, 2019/3/4, 04.03.2019, 3/4/19, 04-03-19.
  `${before}\\d{4}[-/.]\\d{1,2}[-/.]\\d{1,2}${after}`,
  `${before}\\d{1,2}[-/.]\\d{1,2}[-/.](?:\\d{4}|\\d{2})${after}`,
  // Street name and house number: "Hauptstraße 5", "Kerkstraat 12".
  `${before}[\\p{L}-]*(?:stra(?:ß|ss)e|str\\.|weg|gasse|platz|allee|damm|laan|straat|gracht|plein|vej|gatan|gata|veien)\\s+\\d{1,4}[a-z]?${after}`,
  '\\bP\\.?\\s*O\\.?\\s*Box\\s+\\d+',
  // Telephone numbers: 7 digits or more in groups, with +, spaces, dashes, slashes or brackets.
  `(?<![\\p{L}\\p{N}.,])(?:\\+|00)?(?=(?:[\\s()/-]{0,3}\\d){7})\\(?\\d{1,4}\\)?(?:[\\s/-]?\\(?\\d{1,5}\\)?){1,5}(?![\\p{L}\\p{N}]|[.,]\\d)`,
  // Identifiers after a label: "ID 4711", "MRN: A-12", "No. 34", "#12".
  `(?<=(?:${before}(?:id|mrn|pid|ssn|acc|accession|nr\\.|no\\.|n°)\\s{0,3}[:#]?\\s{0,3}|#\\s{0,3}))(?=[\\p{L}/-]*\\d)[\\p{L}\\p{N}][\\p{L}\\p{N}/-]*`,
  // Tokens holding 5 digits or more (record, accession and social security numbers, postal codes); not
  // matrix sizes (512x512).
  `${before}(?!\\d+[x×]\\d+${after})(?=(?:[\\p{L}/-]*\\d){5})[\\p{L}\\p{N}][\\p{L}\\p{N}/-]*${after}`,
];

const TITLES = [
  'dr',
  'mr',
  'mrs',
  'ms',
  'miss',
  'mx',
  'prof',
  'sir',
  'dame',
  'herr',
  'frau',
  'mme',
  'mlle',
  'sra',
  'srta',
  'dott',
];
const BY = [
  'signed',
  'dictated',
  'reported',
  'read',
  'seen',
  'referred',
  'verified',
  'approved',
  'examined',
  'performed',
  'transcribed',
  'requested',
  'ordered',
  'written',
  'typed',
];
const STREET_TYPES = [
  'street',
  'st',
  'road',
  'rd',
  'avenue',
  'ave',
  'lane',
  'ln',
  'drive',
  'dr',
  'boulevard',
  'blvd',
  'court',
  'place',
  'square',
  'terrace',
  'crescent',
  'highway',
  'hwy',
  'parkway',
  'pkwy',
  'way',
];
const NAMED_STREETS = [
  'rue',
  'chemin',
  'impasse',
  'via',
  'viale',
  'piazza',
  'calle',
  'avenida',
  'plaza',
  'rua',
];

/** Patterns that need capitals to be told from ordinary words (see the module comment). */
const CASE_PATTERNS: readonly string[] = [
  // Dates with a capitalized month and no year: "4 March", "March 4th".
  `${before}${DAY}\\s*(?:of\\s+)?(?:${CAPITALIZED_MONTHS})${after}\\.?(?:,?\\s*${YEAR}${after})?`,
  `${before}(?:${CAPITALIZED_MONTHS})\\.?\\s*${DAY}${after}(?:,?\\s*${YEAR}${after})?`,
  // Addresses: "12 Elm Street", "221B Baker St.", "12, rue de la Paix", "via Roma 3".
  `${before}\\d{1,5}[A-Za-z]?,?\\s+(?:${CAPITALIZED}\\s+){1,4}(?:${STREET_TYPES.map(anyCase).join('|')})${after}\\.?`,
  `${before}(?:\\d{1,5},?\\s+)?(?:${NAMED_STREETS.map(anyCase).join('|')})\\s+(?:(?:de|del|della|di|du|la|le|les|des|do|da|dos)\\s+)*${CAPITALIZED}(?:\\s+\\d{1,5})?`,
  // Postcodes: UK "SW1A 1AA", Canada "K1A 0B1", a 5-digit code (or D-1234) with the city after it.
  `${before}[A-Z]{1,2}\\d[A-Z\\d]?\\s*\\d[A-Z]{2}${after}`,
  `${before}[A-Z]\\d[A-Z]\\s?\\d[A-Z]\\d${after}`,
  `${before}(?:\\d{5}|[A-Z]{1,2}-\\d{4,5})\\s+${CAPITALIZED}`,
  // Names after a title or after "signed by", "seen by"…, and DICOM person names.
  `${before}(?:${TITLES.map(anyCase).join('|')})\\.?\\s+${CAPITALIZED}\\.?(?:\\s+${CAPITALIZED}\\.?){0,2}${after}`,
  `(?<=${before}(?:${BY.map(anyCase).join('|')})\\s{1,3}${anyCase('by')}\\s{1,3})${CAPITALIZED}\\.?(?:\\s+${CAPITALIZED}\\.?){0,2}${after}`,
  `${before}[\\p{L}'-]+(?:\\^[\\p{L}'-]*)+`,
];

/**
 * Common given names (several languages) that are not also common words: one, capitalized, with the
 * capitalized word after it, is taken for a person's name.
 */
const GIVEN_NAMES = (
  'Aaron Abigail Adam Adrian Agnes Ahmed Aisha Alan Albert Alberto Alejandro Alessandro Alex Alexander ' +
  'Alexandra Alfred Alice Alicia Alison Amanda Amelia Amy Ana Andrea Andreas Andrew Angela Anita Ann Anna ' +
  'Anne Annette Anthony Antoine Antonio Arthur Astrid Barbara Beatrice Benjamin Bernard Bernd Bertrand Beth ' +
  'Birgit Brian Bruno Camille Carl Carla Carlos Carmen Carol Caroline Catherine Charles Charlotte Chloe ' +
  'Christian Christina Christine Christoph Christopher Claire Claudia Colin Daniel Daniela David Deborah ' +
  'Dennis Diana Diego Dieter Dominique Donald Dorothy Edward Elena Elisabeth Elizabeth Ella Emily Emma ' +
  'Emmanuel Eric Erik Ernst Eva Fatima Felix Fernando Francesca Francis Francisco Franz Frederick ' +
  'Gabriel Gabriele Gareth George Georg Gerhard Giovanni Giulia Giuseppe Gregory Gunnar Hannah Hans Harald ' +
  'Harry Heinz Helen Helena Helmut Henrik Henry Hugo Ian Ingrid Isabel Isabella Jack Jacob Jacques James ' +
  'Jan Jane Janet Javier Jean Jennifer Jens Jessica Joanna Johann Johannes John Jonathan Jorge Joseph ' +
  'Josephine Juan Judith Julia Julian Julie Jürgen Karen Karin Karl Katharina Katherine Kathleen Kenneth ' +
  'Kevin Klaus Kristin Lars Laura Lauren Laurent Lea Leon Linda Lisa Lorenzo Louis Louise Lucas Lucia Luis ' +
  'Luisa Lukas Manuel Marc Marco Margaret Maria Marie Marina Mario Martin Martina Mary Matthew Matthias ' +
  'Maximilian Megan Melanie Michael Michelle Miguel Mohammed Monika Nathalie Nicholas Nicola Nicolas Nicole ' +
  'Niklas Nina Noah Olga Oliver Olivia Oscar Pablo Patricia Patrick Paul Paula Pedro Peter Petra Philip ' +
  'Philippe Pierre Rachel Rafael Ralf Rebecca Richard Robert Roberto Rolf Ronald Rosa Ruth Samuel Sandra ' +
  'Sara Sarah Sebastian Sergio Sharon Simon Sofia Sophie Stefan Stefanie Stephen Steven Susan Susanne ' +
  'Sven Sylvia Thomas Timothy Tobias Ulrich Ursula Valentina Vanessa Victoria Vincent Walter Werner ' +
  'William Wolfgang Yusuf Zoe'
).split(' ');

const GIVEN_NAME_PATTERN = `${before}(?:${GIVEN_NAMES.map(escape).join('|')})(?:\\s+${CAPITALIZED})?${after}`;

/** Removes identifying content from free text (see the module comment); built once per instance. */
export class TextScrubber {
  private readonly own: RegExp | undefined;
  private readonly anyCase = new RegExp(ANY_CASE_PATTERNS.join('|'), 'giu');
  private readonly withCase = new RegExp([...CASE_PATTERNS, GIVEN_NAME_PATTERN].join('|'), 'gu');

  constructor(found: IdentifyingValues) {
    const patterns = new Set<string>();
    for (const name of found.names)
      for (const group of name.split('=')) {
        const parts = group
          .split(/[\^\s,]+/)
          .map((p) => p.trim())
          .filter((p) => p.length >= 2 && /\p{L}/u.test(p));
        for (const form of nameForms(parts)) patterns.add(form);
        for (const part of parts) patterns.add(before + escape(part) + after);
      }
    for (const { tag, value } of found.values)
      for (const v of value.split('\\')) {
        const whole = loose(v);
        if (whole) patterns.add(whole);
        if (ADDRESS_TAGS.has(tag))
          for (const part of v.split(/[,;\n^]+/)) {
            const p = loose(part.trim());
            if (p) patterns.add(p);
          }
      }
    // Longer patterns first, so a whole value goes before its parts.
    const own = [...patterns].sort((a, b) => b.length - a.length);
    this.own = own.length ? new RegExp(own.join('|'), 'giu') : undefined;
  }

  scrub(text: string): string {
    let out = text;
    if (this.own) out = out.replace(this.own, ' ');
    out = out.replace(this.withCase, ' ').replace(this.anyCase, ' ');
    return out
      .replace(/[ \t]{2,}/g, ' ')
      .replace(/([,;])(?:\s*[,;])+/g, '$1')
      .replace(/ ([,.;:!?)])/g, '$1')
      .replace(/^[\s,;:^.\-/()]+|[\s,;:^\-/(]+$/g, '');
  }
}
