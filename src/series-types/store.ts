/**
 * Series types (state store) and series labels (type assignments and series tags, kept in the index beside
 * the series). Adapters: sqlite-store.ts, postgres-store.ts, sqlite-labels.ts.
 */

/** How a rule attribute compares the series' value with `values`; `equals` is Slicebox's only comparison. */
export type AttributeOperator = 'equals' | 'contains' | 'starts_with' | 'regex' | '<' | '>' | 'range';

export interface SeriesType {
  id: number;
  name: string;
}

export interface SeriesTypeRule {
  id: number;
  seriesTypeId: number;
}

/** Slicebox's `SeriesTypeRuleAttribute`, plus an optional operator (default `equals`) and regex flags. */
export interface SeriesTypeRuleAttribute {
  id: number;
  seriesTypeRuleId: number;
  tag: number;
  name: string;
  /** Comma-separated decimal sequence tags to descend into (item 1), or null for the root. */
  tagPath: string | null;
  namePath: string | null;
  values: string;
  operator: AttributeOperator;
  /** Regex flags (`i`, `m`, `s`, `u`) for operator `regex`; empty otherwise. */
  flags: string;
}

/** A series type with its rules and their attributes: what classification evaluates. */
export interface SeriesTypeDefinition extends SeriesType {
  rules: Array<SeriesTypeRule & { attributes: SeriesTypeRuleAttribute[] }>;
}

export interface SeriesTypeStore {
  listSeriesTypes(startIndex: number, count: number): Promise<SeriesType[]>;
  seriesType(id: number): Promise<SeriesType | undefined>;
  /** Inserts a type unless the name is taken; undefined when it is. */
  insertSeriesType(name: string): Promise<SeriesType | undefined>;
  /** The type with this name, created when missing (static types from pipeline files). */
  ensureSeriesType(name: string): Promise<SeriesType>;
  /** Renames; false when the id is unknown. Throws BadRequestError when the name is taken. */
  updateSeriesType(id: number, name: string): Promise<boolean>;
  /** Deletes the type with its rules and attributes; false when unknown. */
  deleteSeriesType(id: number): Promise<boolean>;
  listSeriesTypeRules(seriesTypeId: number): Promise<SeriesTypeRule[]>;
  seriesTypeRule(id: number): Promise<SeriesTypeRule | undefined>;
  insertSeriesTypeRule(seriesTypeId: number): Promise<SeriesTypeRule>;
  deleteSeriesTypeRule(id: number): Promise<boolean>;
  listSeriesTypeRuleAttributes(seriesTypeRuleId: number): Promise<SeriesTypeRuleAttribute[]>;
  insertSeriesTypeRuleAttribute(
    attribute: Omit<SeriesTypeRuleAttribute, 'id'>,
  ): Promise<SeriesTypeRuleAttribute>;
  deleteSeriesTypeRuleAttribute(id: number): Promise<boolean>;
  /** Every managed type with its rules and attributes. */
  seriesTypeDefinitions(): Promise<SeriesTypeDefinition[]>;
}

export interface SeriesTag {
  id: number;
  name: string;
}

/**
 * Series type assignments and series tags, kept in the index next to the series they label. Asynchronous like
 * the rest of the index (its adapters may answer over the network).
 */
export interface SeriesLabelIndex {
  /** All series ids (for re-classification). */
  allSeriesIds(): Promise<number[]>;
  /** The series' type assignments; `manual` ones survive re-classification. */
  seriesTypeAssignments(seriesId: number): Promise<Array<{ seriesTypeId: number; manual: boolean }>>;
  /** Assignments of many series at once, ordered by series id then type id. */
  seriesTypeAssignmentsOf(seriesIds: number[]): Promise<Array<{ seriesId: number; seriesTypeId: number }>>;
  /** Assigns a type by hand (a second time is a no-op; an automatic assignment becomes manual). */
  assignSeriesType(seriesId: number, seriesTypeId: number): Promise<void>;
  unassignSeriesType(seriesId: number, seriesTypeId: number): Promise<void>;
  unassignAllSeriesTypes(seriesId: number): Promise<void>;
  /** Replaces the series' automatic assignments with `seriesTypeIds`, keeping manual ones. */
  setAutomaticSeriesTypes(seriesId: number, seriesTypeIds: readonly number[]): Promise<void>;
  /** Removes every assignment of a deleted type. */
  forgetSeriesType(seriesTypeId: number): Promise<void>;

  listSeriesTags(opts: {
    startIndex: number;
    count: number;
    orderBy?: 'id' | 'name';
    orderAscending?: boolean;
    filter?: string;
  }): Promise<SeriesTag[]>;
  seriesTag(id: number): Promise<SeriesTag | undefined>;
  /** Inserts a tag unless the name is taken; undefined when it is. */
  insertSeriesTag(name: string): Promise<SeriesTag | undefined>;
  /** Renames; undefined when the id is unknown. Rejects with BadRequestError when the name is taken. */
  renameSeriesTag(id: number, name: string): Promise<SeriesTag | undefined>;
  /** Deletes the tag and its links; false when unknown. */
  deleteSeriesTag(id: number): Promise<boolean>;
  seriesTagsOf(seriesId: number): Promise<SeriesTag[]>;
  /** Links the tag with this name (created when new) to the series. */
  addSeriesTagToSeries(seriesId: number, name: string): Promise<SeriesTag>;
  /** Unlinks; a tag left on no series is deleted. */
  removeSeriesTagFromSeries(seriesId: number, seriesTagId: number): Promise<void>;
}
