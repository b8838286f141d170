// The official ElevenLabs JavaScript SDK, unmodified, against a running Chorus server.
//
// Environment: CHORUS_BASE_URL (e.g. http://127.0.0.1:8000), CHORUS_API_KEY, CHORUS_VOICE_ID.
// Prints one JSON line per check: {"check": name, "ok": true|false, "detail": ...}
// and exits 1 when any check failed (2 when the environment is incomplete).
//
// Only the SDK's own options are set: the base URL and API key, no retries (so a server error
// shows up as the error it is instead of being retried away) and a logger that records the
// requests the SDK makes, which are reported with a failing check.

import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";

import { ElevenLabsClient, ElevenLabsError } from "@elevenlabs/elevenlabs-js";

const baseUrl = process.env.CHORUS_BASE_URL;
const apiKey = process.env.CHORUS_API_KEY;
const voiceId = process.env.CHORUS_VOICE_ID;
if (!baseUrl || !apiKey || !voiceId) {
    console.error("sdk_contract: set CHORUS_BASE_URL, CHORUS_API_KEY and CHORUS_VOICE_ID");
    process.exit(2);
}

const sdkVersion = createRequire(import.meta.url)("@elevenlabs/elevenlabs-js/package.json").version;

// Requests the SDK logged (method, URL, status) since the current check began.
let requests = [];
const recorder = {
    debug: (message, meta) => record(message, meta),
    info: () => {},
    warn: () => {},
    error: (message, meta) => record(message, meta),
};
function record(message, meta = {}) {
    if (message === "Making HTTP request") requests.push({ method: meta.method, url: meta.url });
    else if (requests.length) requests[requests.length - 1].outcome = meta.statusCode ?? message;
}

function makeClient(key) {
    return new ElevenLabsClient({
        apiKey: key,
        baseUrl,
        maxRetries: 0,
        timeoutInSeconds: 120,
        logging: { level: "debug", logger: recorder, silent: false },
    });
}

const client = makeClient(apiKey);
const nonce = randomBytes(4).toString("hex").replace(/\d/g, (d) => "abcdefghij"[d]);
const results = [];

class CheckFailed extends Error {}

function expect(condition, message) {
    if (!condition) throw new CheckFailed(message);
}

async function check(name, fn) {
    requests = [];
    let line;
    try {
        const detail = await fn();
        line = { check: name, ok: true, detail: detail ?? null };
    } catch (err) {
        line = { check: name, ok: false, detail: describeError(err) };
    }
    results.push(line);
    console.log(JSON.stringify(line));
    return line.ok;
}

function describeError(err) {
    const detail = { error: err instanceof CheckFailed ? err.message : String(err?.message ?? err) };
    if (err instanceof ElevenLabsError) {
        detail.statusCode = err.statusCode ?? null;
        detail.body = err.body ?? null;
    } else if (err?.name === "ParseError" || err?.name === "JsonError") {
        // The server answered, but the SDK's schema rejected the body (or the request).
        detail.kind = "the SDK rejected the body against its schema";
    } else if (!(err instanceof CheckFailed) && err?.stack) {
        detail.stack = err.stack.split("\n").slice(0, 6).join("\n");
    }
    detail.requests = requests;
    return detail;
}

/** Expect `fn` to throw an ElevenLabsError with `statusCode`. */
async function expectStatus(statusCode, fn) {
    let result;
    try {
        result = await fn();
    } catch (err) {
        if (!(err instanceof ElevenLabsError)) throw err;
        expect(
            err.statusCode === statusCode,
            `expected statusCode ${statusCode}, got ${err.statusCode}: ${JSON.stringify(err.body)}`,
        );
        return { statusCode: err.statusCode, body: err.body };
    }
    throw new CheckFailed(`expected an ElevenLabsError with statusCode ${statusCode}, got a result: ${preview(result)}`);
}

function preview(value) {
    try {
        return JSON.stringify(value).slice(0, 300);
    } catch {
        return String(value).slice(0, 300);
    }
}

async function readAll(stream) {
    const parts = [];
    for await (const part of stream) parts.push(Buffer.from(part));
    return Buffer.concat(parts);
}

function looksLikeMp3(bytes) {
    if (bytes.length < 4) return false;
    if (bytes.subarray(0, 3).toString("latin1") === "ID3") return true;
    return bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0;
}

function checkAlignment(alignment, text, label) {
    expect(alignment, `${label}: no alignment`);
    const { characters, characterStartTimesSeconds: starts, characterEndTimesSeconds: ends } = alignment;
    expect(Array.isArray(characters), `${label}: characters is not an array`);
    expect(
        characters.join("") === text,
        `${label}: characters joined ${JSON.stringify(characters.join(""))} != text ${JSON.stringify(text)}`,
    );
    expect(
        starts.length === characters.length && ends.length === characters.length,
        `${label}: ${characters.length} characters but ${starts.length} starts and ${ends.length} ends`,
    );
    for (let i = 0; i < characters.length; i++) {
        expect(ends[i] >= starts[i], `${label}: character ${i} ends (${ends[i]}) before it starts (${starts[i]})`);
        if (i > 0) expect(starts[i] >= starts[i - 1], `${label}: start times go backwards at character ${i}`);
    }
}

// ---------------------------------------------------------------------------------------------

const texts = {
    convert: `The official JavaScript client works unchanged ${nonce}.`,
    stream: `Streaming through the JavaScript client ${nonce}.`,
    unlogged: `Pulse code modulation ${nonce}.`,
    timestamps: `Hello world, with timestamps ${nonce}.`,
    streamTimestamps: `Streaming timestamps, one character at a time ${nonce}.`,
};
let convertedAudio = null;

await check("models.list", async () => {
    const models = await client.models.list();
    expect(Array.isArray(models) && models.length > 0, "no models");
    const ids = models.map((m) => m.modelId);
    expect(ids.every((id) => typeof id === "string" && id), "a model without modelId");
    expect(ids.includes("eleven_multilingual_v2"), `eleven_multilingual_v2 missing from ${ids}`);
    expect(models.some((m) => m.canDoTextToSpeech), "no model can do text to speech");
    return { models: ids };
});

let allVoiceIds = [];
await check("voices.getAll", async () => {
    const { voices } = await client.voices.getAll();
    expect(Array.isArray(voices) && voices.length > 0, "no voices");
    allVoiceIds = voices.map((v) => v.voiceId);
    expect(allVoiceIds.includes(voiceId), `${voiceId} missing from ${allVoiceIds}`);
    return { count: voices.length };
});

await check("voices.search", async () => {
    const first = await client.voices.search({ pageSize: 2, sort: "name", sortDirection: "asc" });
    expect(first.voices.length === Math.min(2, first.totalCount), `page of ${first.voices.length} voices`);
    expect(
        allVoiceIds.length === 0 || first.totalCount === allVoiceIds.length,
        `totalCount ${first.totalCount} but getAll listed ${allVoiceIds.length}`,
    );
    const seen = first.voices.map((v) => v.voiceId);
    let page = first;
    let pages = 1;
    while (page.hasMore) {
        expect(page.nextPageToken, `page ${pages} hasMore without nextPageToken`);
        page = await client.voices.search({
            pageSize: 2,
            sort: "name",
            sortDirection: "asc",
            nextPageToken: page.nextPageToken,
        });
        pages += 1;
        expect(pages <= 1000, "pagination does not end");
        for (const v of page.voices) {
            expect(!seen.includes(v.voiceId), `${v.voiceId} on two pages`);
            seen.push(v.voiceId);
        }
    }
    expect(seen.length === first.totalCount, `pages held ${seen.length} voices, totalCount ${first.totalCount}`);
    expect(seen.includes(voiceId), `${voiceId} not on any page`);
    const filtered = await client.voices.search({ search: "zzz-no-such-voice-zzz" });
    expect(filtered.voices.length === 0 && filtered.totalCount === 0, "a search for nothing found voices");
    return { pages, totalCount: first.totalCount };
});

await check("voices.get", async () => {
    const voice = await client.voices.get(voiceId);
    expect(voice.voiceId === voiceId, `voiceId ${voice.voiceId}`);
    expect(typeof voice.name === "string" && voice.name, "no name");
    return { name: voice.name, category: voice.category ?? null };
});

await check("user.get", async () => {
    const user = await client.user.get();
    expect(typeof user.userId === "string" && user.userId, "no userId");
    expect(user.subscription && typeof user.subscription.tier === "string", "no subscription tier");
    return { userId: user.userId, tier: user.subscription.tier };
});

await check("user.subscription.get", async () => {
    const sub = await client.user.subscription.get();
    expect(typeof sub.characterLimit === "number" && sub.characterLimit > 0, `characterLimit ${sub.characterLimit}`);
    expect(typeof sub.characterCount === "number", `characterCount ${sub.characterCount}`);
    expect(typeof sub.status === "string", `status ${sub.status}`);
    return { tier: sub.tier, status: sub.status, characterLimit: sub.characterLimit };
});

await check("textToSpeech.convert", async () => {
    const audio = await readAll(await client.textToSpeech.convert(voiceId, { text: texts.convert }));
    expect(audio.length > 0, "empty audio");
    expect(looksLikeMp3(audio), `not MP3: starts with ${audio.subarray(0, 4).toString("hex")}`);
    convertedAudio = audio;
    return { bytes: audio.length };
});

await check("textToSpeech.convert.pcm", async () => {
    const audio = await readAll(
        await client.textToSpeech.convert(voiceId, {
            text: texts.unlogged,
            modelId: "eleven_turbo_v2_5",
            outputFormat: "pcm_16000",
            enableLogging: false,
            voiceSettings: { stability: 0.3, similarityBoost: 0.7, speed: 1.1 },
        }),
    );
    expect(audio.length > 16000 && audio.length % 2 === 0, `${audio.length} bytes of 16-bit PCM`);
    return { bytes: audio.length };
});

await check("textToSpeech.stream", async () => {
    const stream = await client.textToSpeech.stream(voiceId, { text: texts.stream });
    let chunks = 0;
    const parts = [];
    for await (const part of stream) {
        chunks += 1;
        parts.push(Buffer.from(part));
    }
    const audio = Buffer.concat(parts);
    expect(audio.length > 0, "empty audio");
    expect(looksLikeMp3(audio), `not MP3: starts with ${audio.subarray(0, 4).toString("hex")}`);
    return { bytes: audio.length, chunks };
});

await check("textToSpeech.convertWithTimestamps", async () => {
    const text = texts.timestamps;
    const result = await client.textToSpeech.convertWithTimestamps(voiceId, { text });
    const audio = Buffer.from(result.audioBase64, "base64");
    expect(audio.length > 0, "empty audioBase64");
    expect(looksLikeMp3(audio), `not MP3: starts with ${audio.subarray(0, 4).toString("hex")}`);
    checkAlignment(result.alignment, text, "alignment");
    expect(result.normalizedAlignment, "no normalizedAlignment");
    const last = result.alignment.characterEndTimesSeconds.at(-1);
    return { bytes: audio.length, characters: result.alignment.characters.length, seconds: last };
});

await check("textToSpeech.streamWithTimestamps", async () => {
    const text = texts.streamTimestamps;
    const stream = await client.textToSpeech.streamWithTimestamps(voiceId, { text });
    const characters = [];
    const starts = [];
    const ends = [];
    let chunks = 0;
    let withAlignment = 0;
    let bytes = 0;
    for await (const chunk of stream) {
        chunks += 1;
        bytes += Buffer.from(chunk.audioBase64 ?? "", "base64").length;
        if (chunk.alignment) {
            withAlignment += 1;
            characters.push(...chunk.alignment.characters);
            starts.push(...chunk.alignment.characterStartTimesSeconds);
            ends.push(...chunk.alignment.characterEndTimesSeconds);
        }
    }
    expect(chunks > 0, "no chunks");
    expect(withAlignment > 0, "no chunk carried an alignment");
    expect(bytes > 0, "no audio in the chunks");
    checkAlignment(
        { characters, characterStartTimesSeconds: starts, characterEndTimesSeconds: ends },
        text,
        "alignment across chunks",
    );
    return { chunks, withAlignment, bytes };
});

let historyItem = null;
await check("history.list", async () => {
    const listing = await client.history.list({ pageSize: 100 });
    expect(Array.isArray(listing.history), "no history array");
    historyItem = listing.history.find((h) => h.text === texts.convert);
    expect(historyItem, `the converted text is not in the history: ${preview(listing.history.map((h) => h.text))}`);
    expect(historyItem.voiceId === voiceId, `voiceId ${historyItem.voiceId}`);
    expect(!listing.history.some((h) => h.text === texts.unlogged), "a conversion with enableLogging false was logged");
    // Page through one item at a time from the newest.
    const first = await client.history.list({ pageSize: 1 });
    expect(first.history.length === 1, `pageSize 1 gave ${first.history.length} items`);
    if (first.hasMore) {
        const second = await client.history.list({
            pageSize: 1,
            startAfterHistoryItemId: first.lastHistoryItemId,
        });
        expect(second.history.length === 1, `second page has ${second.history.length} items`);
        expect(
            second.history[0].historyItemId !== first.history[0].historyItemId,
            "the second page repeats the first",
        );
    }
    return { items: listing.history.length, hasMore: listing.hasMore };
});

await check("history.get", async () => {
    expect(historyItem, "no history item (history.list failed)");
    const item = await client.history.get(historyItem.historyItemId);
    expect(item.historyItemId === historyItem.historyItemId, `historyItemId ${item.historyItemId}`);
    expect(item.text === texts.convert, `text ${JSON.stringify(item.text)}`);
    expect(item.voiceId === voiceId, `voiceId ${item.voiceId}`);
    return { historyItemId: item.historyItemId, characterCount: item.characterCountChangeTo ?? null };
});

await check("history.getAudio", async () => {
    expect(historyItem, "no history item (history.list failed)");
    const audio = await readAll(await client.history.getAudio(historyItem.historyItemId));
    expect(audio.length > 0, "empty audio");
    expect(looksLikeMp3(audio), `not MP3: starts with ${audio.subarray(0, 4).toString("hex")}`);
    expect(
        !convertedAudio || audio.equals(convertedAudio),
        `history audio (${audio.length} bytes) differs from the converted audio (${convertedAudio?.length} bytes)`,
    );
    return { bytes: audio.length };
});

await check("history.delete", async () => {
    expect(historyItem, "no history item (history.list failed)");
    const deleted = await client.history.delete(historyItem.historyItemId);
    expect(deleted.status === "ok", `status ${deleted.status}`);
    await expectStatus(404, () => client.history.get(historyItem.historyItemId));
    return { status: deleted.status };
});

let transcriptionId;

await check("speechToText.convert", async () => {
    expect(convertedAudio, "needs the audio of textToSpeech.convert");
    const result = await client.speechToText.convert({
        file: new Blob([convertedAudio], { type: "audio/mpeg" }),
        modelId: "scribe_v1",
        diarize: true,
        tagAudioEvents: false,
        keyterms: ["Chorus"],
        timestampsGranularity: "word",
        additionalFormats: [{ format: "srt" }, { format: "txt" }],
        entityDetection: ["pii"],
    });
    expect(typeof result.text === "string" && result.text.length > 0, "no text");
    expect(result.languageCode === "eng", `language ${result.languageCode}`);
    const words = result.words.filter((w) => w.type === "word");
    expect(words.length > 3 && words.every((w) => w.speakerId === "speaker_0"), "one speaker, labelled");
    expect(words.every((w) => w.logprob <= 0 && w.start <= w.end), "word times and logprob");
    const formats = (result.additionalFormats ?? []).map((f) => f.requestedFormat).sort();
    expect(formats.join(",") === "srt,txt", `formats ${formats}`);
    expect(result.additionalFormats[0].content.includes("-->"), "srt cue");
    expect(Array.isArray(result.entities), "entities list");
    transcriptionId = result.transcriptionId;
    return { text: result.text, words: words.length };
});

await check("speechToText.transcripts", async () => {
    expect(transcriptionId, "needs speechToText.convert");
    const stored = await client.speechToText.transcripts.get(transcriptionId);
    expect(stored.transcriptionId === transcriptionId, "same transcript");
    await client.speechToText.transcripts.delete(transcriptionId);
    await expectStatus(404, () => client.speechToText.transcripts.get(transcriptionId));
    return { deleted: transcriptionId };
});

await check("forcedAlignment.create", async () => {
    expect(convertedAudio, "needs the audio of textToSpeech.convert");
    const aligned = await client.forcedAlignment.create({
        file: new Blob([convertedAudio], { type: "audio/mpeg" }),
        text: texts.convert,
    });
    expect(aligned.words.length === texts.convert.split(/\s+/).length, `${aligned.words.length} words`);
    expect(aligned.characters.map((c) => c.text).join("") === texts.convert, "characters cover the text");
    return { words: aligned.words.length, loss: aligned.loss };
});

await check("error.bad_api_key", async () => {
    const bad = makeClient("sk_not_a_real_key_0000000000000000");
    const voices = await expectStatus(401, () => bad.voices.getAll());
    await expectStatus(401, () => bad.textToSpeech.convert(voiceId, { text: "Not allowed." }));
    return voices;
});

await check("error.unknown_voice", async () => {
    const missing = "zzzzzzzzzzzzzzzzzzzz";
    const voice = await expectStatus(404, () => client.voices.get(missing));
    await expectStatus(404, () => client.textToSpeech.convert(missing, { text: "Nobody home." }));
    return voice;
});

// Leave the history as it was found: remove what this run logged (best effort, not a check).
try {
    const listing = await client.history.list({ pageSize: 100 });
    for (const h of listing.history) {
        if (Object.values(texts).includes(h.text)) await client.history.delete(h.historyItemId);
    }
} catch {
    // ignored
}

const failed = results.filter((r) => !r.ok).map((r) => r.check);
console.log(
    JSON.stringify({ summary: true, sdk: "@elevenlabs/elevenlabs-js", version: sdkVersion, checks: results.length, failed }),
);
process.exit(failed.length ? 1 : 0);
