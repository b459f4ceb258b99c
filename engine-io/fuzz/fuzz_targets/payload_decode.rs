//! Fuzzes the polling payload decoders (v4, v3 string, v3 binary, JSONP form)
//! and checks round trips of what decodes.
#![no_main]

use bytes::Bytes;
use engine_io::packet::{Packet, ProtocolVersion};
use engine_io::{payload, Str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    for v in [ProtocolVersion::V3, ProtocolVersion::V4] {
        for binary in [false, true] {
            let packets: Vec<Packet> = payload::decode(body.clone(), v, binary)
                .filter_map(Result::ok)
                .collect();
            let _ = payload::encode_v3_binary(&packets);
            let _ = payload::encode_v3_string(&packets);
            let _ = payload::encode_v4(&packets);
        }
    }
    if let Ok(all) =
        payload::decode_v4(payload::bytes_to_str_lossy(body.clone())).collect::<Result<Vec<_>, _>>()
    {
        let again = payload::encode_v4(&all);
        let back: Vec<Packet> = payload::decode_v4(Str::from(again))
            .collect::<Result<_, _>>()
            .expect("v4 round trip");
        assert_eq!(back, all);
    }
    if let Ok(all) = payload::decode_v3_binary(body.clone()).collect::<Result<Vec<_>, _>>() {
        let again = payload::encode_v3_binary(&all);
        let back: Vec<Packet> = payload::decode_v3_binary(again)
            .collect::<Result<_, _>>()
            .expect("v3 binary round trip");
        assert_eq!(back, all);
    }
    if let Ok(all) = payload::decode_v3_string(payload::bytes_to_str_lossy(body.clone()))
        .collect::<Result<Vec<_>, _>>()
    {
        let again = payload::encode_v3_string(&all);
        let back: Vec<Packet> = payload::decode_v3_string(Str::from(again))
            .collect::<Result<_, _>>()
            .expect("v3 string round trip");
        assert_eq!(back, all);
    }
    let text = String::from_utf8_lossy(data);
    if let Some(d) = payload::decode_jsonp_form(&text) {
        let _ = payload::encode_jsonp("1", &d);
    }
});
