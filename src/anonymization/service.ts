/**
 * Anonymization as a service for operators and routes: the PS3.15 engine (deid/anonymize.ts) plus
 * Slicebox's anonymization keys (reference/slicebox.md §4.4–4.6): one key per anonymized image, harmonized
 * so that a patient, a study and a series keep one set of pseudonyms, and reverse anonymization of data that
 * comes back.
 *
 * Harmonization runs inside the key store's write transaction (recordAnonymizationKey, or
 * recordAnonymizationKeys for the keys of instances anonymized at the same moment), where each key is decided
 * from the earlier ones and inserted with nothing asynchronous in between, so images racing in this process
 * or in another one on the same state store cannot give one patient two pseudonyms. An earlier key lends
 * values only where it was made with options that treat them the same way (see anonymize).
 */
import { Batches } from '../storage/group-commit.js';
import { deleteStoredImages } from '../storage/stored-images.js';
import { readStored } from '../storage/stored-object.js';
import { randomUUID } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { attr, parseHeader, type DicomHeader } from '../dicom/header.js';
import { BadRequestError, NotFoundError, SluiceError } from '../errors.js';
import type { Origin } from '../pipeline/origin.js';
import type {
  AnonymizationKey,
  AnonymizationKeyStore,
  KeyIdentifiers,
  KeyLevel,
  KeyLookup,
  KeyMatch,
  NewAnonymizationKey,
} from './store.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Image, MetadataIndex } from '../storage/metadata-index.js';
import { anonymize, setRootValues, type RootChange, type RootTagValue } from './deid/anonymize.js';
import { TAG } from './deid/tags.js';
import type { AnonymizeResult } from './deid/result.js';
import {
  actionFor,
  compileProfile,
  OPTIONS,
  OPTION_NAMES,
  type CompiledProfile,
  type ConfidentialityOption,
  type OptionName,
} from './deid/profile.js';
import { keywordOf, tagString, tagTreeFromJson, TagPathError } from '../dicom/tag-path.js';

const RANK: Record<KeyLevel, number> = { PATIENT: 0, STUDY: 1, SERIES: 2, IMAGE: 3 };

/** The five identifiers of a key, with their levels and tags. */
const IDENTIFIERS: Array<{ field: keyof KeyIdentifiers; keyword: string; tag: number; level: KeyLevel }> = [
  { field: 'patientName', keyword: 'PatientName', tag: TAG.PatientName, level: 'PATIENT' },
  { field: 'patientID', keyword: 'PatientID', tag: TAG.PatientID, level: 'PATIENT' },
  { field: 'studyInstanceUID', keyword: 'StudyInstanceUID', tag: TAG.StudyInstanceUID, level: 'STUDY' },
  { field: 'seriesInstanceUID', keyword: 'SeriesInstanceUID', tag: TAG.SeriesInstanceUID, level: 'SERIES' },
  { field: 'sopInstanceUID', keyword: 'SOPInstanceUID', tag: TAG.SOPInstanceUID, level: 'IMAGE' },
];
const ANON_FIELD = {
  patientName: 'anonPatientName',
  patientID: 'anonPatientID',
  studyInstanceUID: 'anonStudyInstanceUID',
  seriesInstanceUID: 'anonSeriesInstanceUID',
  sopInstanceUID: 'anonSOPInstanceUID',
} as const;

/**
 * Slicebox's key attributes (its `key-attributes` default) with their levels. The de-identification record
 * is remembered so that reverse anonymization restores it, but never harmonized (it says what was done to
 * this image).
 */
export const KEY_VALUE_ATTRIBUTES: ReadonlyArray<{
  keyword: string;
  tag: number;
  level: KeyLevel;
  harmonize: boolean;
}> = [
  { keyword: 'PatientIdentityRemoved', tag: 0x00120062, level: 'PATIENT', harmonize: false },
  { keyword: 'DeidentificationMethod', tag: 0x00120063, level: 'PATIENT', harmonize: false },
  { keyword: 'PatientBirthDate', tag: 0x00100030, level: 'PATIENT', harmonize: true },
  { keyword: 'AccessionNumber', tag: 0x00080050, level: 'STUDY', harmonize: true },
  { keyword: 'StudyDescription', tag: 0x00081030, level: 'STUDY', harmonize: true },
  { keyword: 'StudyID', tag: 0x00200010, level: 'STUDY', harmonize: true },
  { keyword: 'FrameOfReferenceUID', tag: 0x00200052, level: 'STUDY', harmonize: true },
  { keyword: 'SeriesDescription', tag: 0x0008103e, level: 'SERIES', harmonize: true },
  { keyword: 'ProtocolName', tag: 0x00181030, level: 'SERIES', harmonize: true },
];

/** The root UID attributes that keys remember. */
const UID_ATTRIBUTES: ReadonlySet<number> = new Set([
  TAG.StudyInstanceUID,
  TAG.SeriesInstanceUID,
  TAG.SOPInstanceUID,
  0x00200052, // FrameOfReferenceUID
]);

/** An attribute harmonized with earlier keys: how to read its value in a key and in the real instance. */
interface Harmonized {
  tag: number;
  level: KeyLevel;
  /** A key value (its real value must match), not one of the five identifiers. */
  remembered: boolean;
  valueIn(match: KeyMatch): string | undefined;
  realIn(real: DicomHeader): string;
}

const HARMONIZED: readonly Harmonized[] = [
  ...IDENTIFIERS.map((i) => ({
    tag: i.tag,
    level: i.level,
    remembered: false,
    valueIn: (match: KeyMatch) => match.key[ANON_FIELD[i.field]],
    realIn: (real: DicomHeader) => attr(real, i.keyword),
  })),
  ...KEY_VALUE_ATTRIBUTES.filter((a) => a.harmonize).map((a) => ({
    tag: a.tag,
    level: a.level,
    remembered: true,
    valueIn: (match: KeyMatch) => match.values.find((v) => v.tagPath === tagString(a.tag))?.anonymizedValue,
    realIn: (real: DicomHeader) => attr(real, a.keyword),
  })),
];

/** The option names of a key that this version knows (a key from before profiles were kept: the Basic Profile). */
const knownOptions = (names: readonly string[]): OptionName[] =>
  names.filter((n): n is OptionName => (OPTION_NAMES as readonly string[]).includes(n));

export function keyIdentifiers(header: Pick<DicomHeader, 'dataset'>): KeyIdentifiers {
  return Object.fromEntries(IDENTIFIERS.map((i) => [i.field, attr(header, i.keyword)])) as never;
}

export interface AnonymizeRequest {
  /** Option names; BASIC_PROFILE is always applied. */
  options?: readonly string[];
  /** Root values applied over the profile and over harmonization (Slicebox's tagValues). */
  tagValues?: readonly RootTagValue[];
  force?: boolean;
  /** The source image's id for the key (-1 when the original is not stored). */
  imageId?: number;
  /** Record a key and harmonize with earlier keys (default: whenever a key store is wired). */
  recordKey?: boolean;
}

export interface AnonymizedInstance extends AnonymizeResult {
  key?: AnonymizationKey;
}

export interface ReversedInstance {
  parts: readonly Buffer[];
  length: number;
  bytes: Buffer;
  header: DicomHeader;
  key: AnonymizationKey;
  level: KeyLevel;
}

export class AnonymizationService {
  private readonly now: () => number;
  /** The scratch folder, made once. */
  private scratchReady: Promise<unknown> | undefined;

  constructor(
    /** The per-installation secret (deid/secret.ts). */
    private readonly secret: Buffer,
    readonly keys: AnonymizationKeyStore | undefined,
    private readonly storage?: {
      index: MetadataIndex;
      blobs: BlobStore;
      /** Where anonymized files are written before the blob store takes them (the store's file system). */
      scratchDir: string;
    },
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** The options `/api/anonymization/options` lists: everything supported but the profile itself. */
  options(): Array<Omit<ConfidentialityOption, 'code' | 'column'>> {
    return OPTION_NAMES.filter((o) => o !== 'BASIC_PROFILE').map((o) => {
      const { name, title, description, rank } = OPTIONS[o];
      return { name, title, description, rank };
    });
  }

  /**
   * Anonymizes one instance; records its key and harmonizes it with earlier keys. An earlier key lends a
   * value only where the options it was made with give that attribute the same action as the options asked
   * for now (Retain UIDs keeps UIDs, the profile replaces them: neither may feed the other), and a UID the
   * profile replaces is never harmonized to a real one. Harmonized UIDs are applied wherever the same UID
   * appears in the instance (references in sequences too), so the instance never contradicts itself.
   */
  async anonymize(file: Buffer, req: AnonymizeRequest, known?: DicomHeader): Promise<AnonymizedInstance> {
    const pending = this.prepare(file, req, known);
    if (!pending.record) return pending.first;
    const { key } = await this.keys!.recordAnonymizationKey(pending.record.real, pending.record.decide);
    return pending.record.finish(key);
  }

  /**
   * As anonymize, with the key committed together with those of the other instances being anonymized at the
   * same moment: one durable transaction for all of them (harmonized in order inside it), so that images
   * anonymized concurrently do not each wait for a disk flush of their own. For the operator and the routes.
   */
  async anonymizeBatched(
    file: Buffer,
    req: AnonymizeRequest,
    known?: DicomHeader,
    /**
     * How long a batch gathers keys before it is written: 0, the end of the current turn of the event loop;
     * more for callers with many images in flight whose each takes much longer (box transfers).
     */
    gatherMs = 0,
  ): Promise<AnonymizedInstance> {
    const pending = this.prepare(file, req, known);
    if (!pending.record) return pending.first;
    let commits = this.commits.get(gatherMs);
    if (!commits) this.commits.set(gatherMs, (commits = new KeyCommits(() => this.keys!, gatherMs)));
    const key = await commits.record(pending.record.real, pending.record.decide);
    return pending.record.finish(key);
  }

  /** Keys waiting for the next commit, and the commits that write them, by how long they gather. */
  private readonly commits = new Map<number, KeyCommits>();

  /**
   * The first pass of an anonymization and, when a key is to be recorded, what the key store needs: how to
   * decide the key from earlier ones, and how to finish the instance once the key is known.
   */
  private prepare(
    file: Buffer,
    req: AnonymizeRequest,
    known?: DicomHeader,
  ): {
    first: AnonymizedInstance;
    record?: {
      real: KeyIdentifiers;
      decide: (earlier: KeyLookup) => NewAnonymizationKey;
      finish: (key: AnonymizationKey) => AnonymizedInstance;
    };
  } {
    const header = known ?? parseHeader(file);
    const profile = compileProfile(req.options ?? []);
    const base = { options: profile.options, secret: this.secret, force: req.force };
    const userValues = req.tagValues ?? [];
    // A UID the user sets replaces the real one wherever it appears, when the profile replaces UIDs.
    const uids = new Map<string, string>();
    for (const { tag, value } of userValues) {
      const realUid = UID_ATTRIBUTES.has(tag) ? attr(header, keywordOf(tag)) : '';
      if (realUid && value && actionFor(profile, tag) !== 'K') uids.set(realUid, value);
    }
    const first = anonymize(file, { ...base, tagValues: userValues, uids }, header);
    if (first.skipped || !this.keys || req.recordKey === false) return { first };

    const userTags = new Set(userValues.map((v) => v.tag));
    const real = keyIdentifiers(header);
    const proposed = keyIdentifiers(first.header);
    const final = new Map<number, string>(IDENTIFIERS.map((i) => [i.tag, proposed[i.field]]));
    for (const a of KEY_VALUE_ATTRIBUTES) final.set(a.tag, attr(first.header, a.keyword));

    const decide = (earlier: KeyLookup): NewAnonymizationKey => {
      this.harmonize(earlier, profile, final, userTags, header);
      const anon = (field: keyof KeyIdentifiers) =>
        final.get(IDENTIFIERS.find((i) => i.field === field)!.tag)!;
      return {
        created: this.now(),
        imageId: req.imageId ?? -1,
        patientName: real.patientName,
        anonPatientName: anon('patientName'),
        patientID: real.patientID,
        anonPatientID: anon('patientID'),
        studyInstanceUID: real.studyInstanceUID,
        anonStudyInstanceUID: anon('studyInstanceUID'),
        seriesInstanceUID: real.seriesInstanceUID,
        anonSeriesInstanceUID: anon('seriesInstanceUID'),
        sopInstanceUID: real.sopInstanceUID,
        anonSOPInstanceUID: anon('sopInstanceUID'),
        profile: profile.options,
        values: KEY_VALUE_ATTRIBUTES.map((a) => ({
          tagPath: tagString(a.tag),
          level: a.level,
          value: attr(header, a.keyword),
          anonymizedValue: final.get(a.tag)!,
        })),
      };
    };

    // Harmonized values that differ from what the profile made: one more pass applies them.
    const finish = (key: AnonymizationKey): AnonymizedInstance => {
      const changes: RootTagValue[] = [];
      const note = (tag: number, realValue: string, value: string) => {
        changes.push({ tag, value });
        if (UID_ATTRIBUTES.has(tag) && realValue && value) uids.set(realValue, value);
      };
      for (const i of IDENTIFIERS)
        if (final.get(i.tag) !== proposed[i.field]) note(i.tag, real[i.field], final.get(i.tag)!);
      for (const a of KEY_VALUE_ATTRIBUTES)
        if (final.get(a.tag) !== attr(first.header, a.keyword))
          note(a.tag, attr(header, a.keyword), final.get(a.tag)!);
      if (!changes.length) return Object.assign(first, { key });
      const tagValues = [...userValues, ...changes];
      return Object.assign(anonymize(file, { ...base, tagValues, uids }, header), { key });
    };
    return { first, record: { real, decide, finish } };
  }

  /**
   * Takes earlier keys' anonymized values: for each attribute, from the most specific (then newest) earlier
   * key that matched at the attribute's level or below and whose options give the attribute the same action
   * as now. A key attribute is taken only where its real value is the same as the earlier image's: two
   * frames of reference in one study (a localizer and an axial series) stay two (Slicebox merged them).
   */
  private harmonize(
    earlier: KeyLookup,
    profile: CompiledProfile,
    final: Map<number, string>,
    userTags: ReadonlySet<number>,
    real: DicomHeader,
  ): void {
    // An attribute this instance does not have (or has empty) is left out: an earlier key could only lend it
    // the empty value it has (a remembered value is taken only from an image with the same real value), and
    // an empty UID is never taken (it equals the real one), which would walk every earlier key of the
    // patient for nothing, once per image.
    const pending = new Set<Harmonized>(
      HARMONIZED.filter(
        (h) => !userTags.has(h.tag) && final.get(h.tag) !== undefined && !(h.remembered && !h.realIn(real)),
      ),
    );
    const sameAction = (options: readonly string[], tag: number) =>
      actionFor(compileProfile(knownOptions(options)), tag) === actionFor(profile, tag);
    for (const candidate of earlier.candidates()) {
      // Candidates come most specific first: one matched above an attribute's level cannot lend it anything.
      for (const h of pending) if (RANK[h.level] > RANK[candidate.level]) pending.delete(h);
      if (!pending.size) return;
      const compatible = [...pending].filter((h) => sameAction(candidate.profile, h.tag));
      if (!compatible.length) continue;
      const match = earlier.load(candidate);
      for (const h of compatible) {
        const value = h.valueIn(match);
        if (value === undefined) continue;
        const realValue = h.realIn(real);
        // A replaced UID must never be a real one, whatever an earlier key holds.
        if (UID_ATTRIBUTES.has(h.tag) && actionFor(profile, h.tag) !== 'K' && value === realValue) continue;
        if (h.remembered && match.values.find((v) => v.tagPath === tagString(h.tag))?.value !== realValue)
          continue;
        final.set(h.tag, value);
        pending.delete(h);
      }
    }
  }

  /**
   * Reverse anonymization (Slicebox §4.6): when the instance says PatientIdentityRemoved YES and a key
   * matches its anonymized identifiers, the real values of every remembered root attribute at or above the
   * matched level come back (an attribute that was absent goes again). Undefined when nothing matches.
   */
  async reverse(file: Buffer, known?: DicomHeader): Promise<ReversedInstance | undefined> {
    if (!this.keys) return undefined;
    const header = known ?? parseHeader(file);
    if (attr(header, 'PatientIdentityRemoved').toUpperCase() !== 'YES') return undefined;
    const match = await this.keys.findKeyByAnonymized(keyIdentifiers(header));
    if (!match) return undefined;
    const changes: RootChange[] = [];
    for (const i of IDENTIFIERS)
      if (RANK[i.level] <= RANK[match.level])
        changes.push({ tag: i.tag, value: match.key[i.field] || undefined });
    for (const a of KEY_VALUE_ATTRIBUTES) {
      const v = match.values.find((x) => x.tagPath === tagString(a.tag));
      if (v && RANK[a.level] <= RANK[match.level]) changes.push({ tag: a.tag, value: v.value || undefined });
    }
    const result = setRootValues(file, changes, header);
    return Object.assign(result, { key: match.key, level: match.level });
  }

  /**
   * Anonymizes a stored image (forced) and stores the result in its place, keeping its source; the original
   * goes once the new one is durable. Answers the new image. For `PUT /api/images/{id}/anonymize` and
   * `POST /api/anonymization/anonymize`.
   */
  async replaceStoredImage(
    imageId: number,
    req: Pick<AnonymizeRequest, 'options' | 'tagValues'>,
  ): Promise<Image> {
    const storage = this.requireStorage();
    const image = await storage.index.image(imageId);
    if (!image) throw new NotFoundError(`image ${imageId}`);
    const bytes = await this.readStored(image);
    const result = await this.anonymizeBatched(bytes, { ...req, force: true, imageId });
    const source = await storage.index.seriesSourceWithName?.(image.seriesId);
    const ref = source ?? (await storage.index.seriesSource(image.seriesId));
    const origin: Origin = {
      sourceType: ref?.sourceType ?? 'unknown',
      sourceId: ref?.sourceId ?? -1,
      sourceName: source?.sourceName ?? '',
    };
    // Written once, in pieces (the pixel data straight from the stored file's bytes), then moved into the
    // store, which makes it durable as it does for landing files (one flush for the data and its name).
    await (this.scratchReady ??= mkdir(storage.scratchDir, { recursive: true }));
    const scratch = join(storage.scratchDir, `${randomUUID()}.dcm`);
    try {
      const handle = await open(scratch, 'w');
      try {
        await handle.writev(result.parts as Buffer[]);
      } finally {
        await handle.close();
      }
      await storage.blobs.putFile(result.header.sopInstanceUid, scratch);
    } finally {
      await rm(scratch, { force: true });
    }
    const { image: stored } = await storage.index.upsert({
      header: result.header,
      origin,
      size: result.length,
    });
    // A new SOP Instance UID is a new image: the original goes (the same UID was overwritten in place).
    if (stored.id !== image.id) await deleteStoredImages(storage.index, storage.blobs, [image.id]);
    return stored;
  }

  /** Anonymizes a stored image for download, without storing it (a key is recorded). */
  async anonymizedCopy(
    imageId: number,
    req: Pick<AnonymizeRequest, 'options' | 'tagValues'>,
  ): Promise<AnonymizedInstance> {
    const storage = this.requireStorage();
    const image = await storage.index.image(imageId);
    if (!image) throw new NotFoundError(`image ${imageId}`);
    return this.anonymizeBatched(await this.readStored(image), { ...req, imageId });
  }

  private readStored(image: Image): Promise<Buffer> {
    return readStored(this.requireStorage().blobs, image.sopInstanceUID.value);
  }

  private requireStorage() {
    if (!this.storage)
      throw new SluiceError('ANONYMIZATION.NO_STORAGE', 'anonymization of stored images is not wired', 503);
    return this.storage;
  }
}

/**
 * Slicebox's `tagValues` JSON (`[{tagPath, value}]`) as root tag values for `anonymize`; paths into
 * sequences, the file meta, pixel data and private data are refused with a 400 naming the field.
 */
export function tagValuesFromJson(
  values: ReadonlyArray<{ tagPath: unknown; value: string }>,
  field: string,
): RootTagValue[] {
  return values.map((v, i) => {
    let tree;
    try {
      tree = tagTreeFromJson(v.tagPath);
    } catch (err) {
      if (err instanceof TagPathError) throw new BadRequestError(`${field}[${i}].tagPath: ${err.message}`);
      throw err;
    }
    if (tree.length !== 1 || tree[0]!.item !== undefined)
      throw new BadRequestError(`${field}[${i}].tagPath: only attributes of the root dataset can be set`);
    const tag = tree[0]!.tag;
    if (tag >>> 16 === 0x0002 || tag === 0x7fe00010 || (tag >>> 16) % 2 === 1)
      throw new BadRequestError(`${field}[${i}].tagPath: (${tag.toString(16)}) cannot be set`);
    return { tag, value: v.value };
  });
}

/**
 * Group commit of anonymization keys (storage/group-commit.ts): keys asked for while the event loop is busy
 * are recorded together, in the order asked, in one write transaction (one disk flush), right after the
 * current turn of the loop (or `gatherMs` later). A batch waits for the one before it, so each decides from
 * the keys of all earlier batches; batches of commits with different windows are kept apart by the store's
 * own transactions.
 */
class KeyCommits {
  private readonly batches: Batches<{
    real: KeyIdentifiers;
    decide: (earlier: KeyLookup) => NewAnonymizationKey;
    resolve: (key: AnonymizationKey) => void;
    reject: (err: unknown) => void;
  }>;

  constructor(
    store: () => AnonymizationKeyStore,
    /** 0: the batch is written after the current turn of the event loop; else this many ms after its first key. */
    gatherMs = 0,
  ) {
    // Never rejects: each caller hears of a failure.
    this.batches = new Batches(async (batch) => {
      let recorded: Array<{ key: AnonymizationKey }>;
      try {
        recorded = await store().recordAnonymizationKeys(batch);
      } catch (err) {
        for (const entry of batch) entry.reject(err);
        return;
      }
      batch.forEach((entry, i) => entry.resolve(recorded[i]!.key));
    }, gatherMs);
  }

  record(
    real: KeyIdentifiers,
    decide: (earlier: KeyLookup) => NewAnonymizationKey,
  ): Promise<AnonymizationKey> {
    return new Promise((resolve, reject) => this.batches.add({ real, decide, resolve, reject }));
  }
}
